"""Tries a TLS handshake with gridmq capped at an old TLS version (1.0 or 1.1).

Exit codes: 0 the broker refused the handshake (an alert or a close), 1 the handshake
succeeded (a failure of the broker's policy), 3 this machine's OpenSSL would not even
offer that version, so nothing was tested.
"""

import argparse
import socket
import ssl
import sys

VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-version", choices=sorted(VERSIONS), default="1.1")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = VERSIONS[args.max_version]
        # OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as error:
        print(f"local OpenSSL cannot offer TLS {args.max_version}: {error}")
        sys.exit(3)

    with socket.create_connection((args.host, args.port), timeout=10) as sock:
        try:
            with context.wrap_socket(sock) as tls:
                print(f"FAILED: handshake succeeded with {tls.version()}")
                sys.exit(1)
        except ssl.SSLError as error:
            text = str(error)
            local = "NO_PROTOCOLS_AVAILABLE" in text or "UNSUPPORTED_PROTOCOL" in text
            if local and "ALERT" not in text:
                print(f"local OpenSSL refused to offer TLS {args.max_version}: {text}")
                sys.exit(3)
            print(f"refused by the broker: {text}")
        except (ConnectionResetError, BrokenPipeError) as error:
            print(f"refused by the broker: {error!r}")


if __name__ == "__main__":
    main()
