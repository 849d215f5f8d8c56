//! Blocking on a [`Ticket`] from a plain thread (shutdown, tests, tools); async code polls
//! the ticket instead.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use gridmq_engine::persist::{Ticket, TicketStatus};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Waits until `ticket` completes or `timeout` passes; `Pending` means it timed out.
pub fn wait(ticket: &Ticket, timeout: Duration) -> TicketStatus {
    let deadline = Instant::now() + timeout;
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(status) = ticket.poll(&mut cx) {
            return status;
        }
        let now = Instant::now();
        if now >= deadline {
            return TicketStatus::Pending;
        }
        std::thread::park_timeout(deadline - now);
    }
}
