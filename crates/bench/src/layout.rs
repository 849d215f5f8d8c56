//! Who publishes where and who subscribes to what, per scenario.

/// The topic layout of a message scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// P publishers on `BASE/in/{i}` -> S subscribers of `BASE/in/+`.
    FanIn {
        /// Publishers.
        publishers: u32,
        /// Subscribers.
        subscribers: u32,
    },
    /// One publisher on `BASE/out` -> S subscribers of it.
    FanOut {
        /// Subscribers.
        subscribers: u32,
    },
    /// Publisher i on `BASE/pair/{i}` -> subscriber i of the same topic.
    Pairs {
        /// Pairs.
        pairs: u32,
    },
    /// R HTTP requesters posting to `BASE/http/{i}` through HTTP Publish on `http_port`
    /// -> S MQTT subscribers of `BASE/http/+`.
    HttpPublish {
        /// Concurrent HTTP requesters, each on its own keep-alive connection.
        requesters: u32,
        /// Subscribers.
        subscribers: u32,
        /// The broker's HTTP port.
        http_port: u16,
    },
    /// P publishers on `BASE/shared/{i}` -> S members of `$share/{group}/BASE/shared/+`.
    Shared {
        /// Publishers.
        publishers: u32,
        /// Group members.
        subscribers: u32,
        /// Share group name.
        group: String,
    },
}

impl Layout {
    /// The scenario's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FanIn { .. } => "fan-in",
            Self::FanOut { .. } => "fan-out",
            Self::Pairs { .. } => "pairs",
            Self::Shared { .. } => "shared",
            Self::HttpPublish { .. } => "http-publish",
        }
    }

    /// Number of publishing clients.
    pub fn publishers(&self) -> u32 {
        match self {
            Self::FanIn { publishers, .. } | Self::Shared { publishers, .. } => *publishers,
            Self::HttpPublish { requesters, .. } => *requesters,
            Self::FanOut { .. } => 1,
            Self::Pairs { pairs } => *pairs,
        }
    }

    /// Number of subscribing clients.
    pub fn subscribers(&self) -> u32 {
        match self {
            Self::FanIn { subscribers, .. }
            | Self::FanOut { subscribers }
            | Self::Shared { subscribers, .. }
            | Self::HttpPublish { subscribers, .. } => *subscribers,
            Self::Pairs { pairs } => *pairs,
        }
    }

    /// How many subscribers each message is meant for.
    pub fn fanout(&self) -> u64 {
        match self {
            Self::FanIn { subscribers, .. }
            | Self::FanOut { subscribers }
            | Self::HttpPublish { subscribers, .. } => u64::from(*subscribers),
            Self::Pairs { .. } | Self::Shared { .. } => 1,
        }
    }

    /// The topic publisher `i` publishes to.
    pub fn publisher_topic(&self, base: &str, i: u32) -> String {
        match self {
            Self::FanIn { .. } => format!("{base}/in/{i}"),
            Self::FanOut { .. } => format!("{base}/out"),
            Self::Pairs { .. } => format!("{base}/pair/{i}"),
            Self::Shared { .. } => format!("{base}/shared/{i}"),
            Self::HttpPublish { .. } => format!("{base}/http/{i}"),
        }
    }

    /// The filter subscriber `i` subscribes to.
    pub fn subscriber_filter(&self, base: &str, i: u32) -> String {
        match self {
            Self::FanIn { .. } => format!("{base}/in/+"),
            Self::FanOut { .. } => format!("{base}/out"),
            Self::Pairs { .. } => format!("{base}/pair/{i}"),
            Self::Shared { group, .. } => format!("$share/{group}/{base}/shared/+"),
            Self::HttpPublish { .. } => format!("{base}/http/+"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_codec::topic::matches_filter;

    fn layouts() -> Vec<Layout> {
        vec![
            Layout::FanIn {
                publishers: 3,
                subscribers: 2,
            },
            Layout::FanOut { subscribers: 4 },
            Layout::Pairs { pairs: 3 },
            Layout::Shared {
                publishers: 2,
                subscribers: 3,
                group: "g".into(),
            },
            Layout::HttpPublish {
                requesters: 3,
                subscribers: 2,
                http_port: 8080,
            },
        ]
    }

    /// Counting matches with the codec's own matcher gives the expected fan-out.
    #[test]
    fn fanout_equals_matching_subscribers_per_message() {
        for layout in layouts() {
            for p in 0..layout.publishers() {
                let topic = layout.publisher_topic("b/run", p);
                let matching = (0..layout.subscribers())
                    .filter(|&s| {
                        let filter = layout.subscriber_filter("b/run", s);
                        let filter = match filter.strip_prefix("$share/") {
                            Some(rest) => rest.split_once('/').map_or("", |(_, f)| f).to_owned(),
                            None => filter,
                        };
                        matches_filter(&filter, &topic)
                    })
                    .count() as u64;
                let per_message = match layout {
                    // A share group counts once however many members it has.
                    Layout::Shared { .. } => matching.min(1),
                    _ => matching,
                };
                assert_eq!(per_message, layout.fanout(), "{layout:?} publisher {p}");
            }
        }
    }
}
