"""Whether a web service answers, within a bounded wait: one HEAD request, asked before a library's own retries.

Used where a library would otherwise wait long on a network that is not there (timm's weight download retries for
~46 s, ``wandb.init`` for 90 s): the caller decides in seconds and says what to do instead.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

__all__ = ["probe_url"]


def probe_url(url: str, timeout_s: float) -> int | str:
    """The HTTP status ``url`` answered a HEAD request with (redirects followed; 4xx and 5xx included), or why it
    gave none, as a short phrase (``https://api.wandb.ai is unreachable: URLError``, ``... did not answer within
    15 s``).

    The whole probe is bounded by ``timeout_s``: it runs in a daemon thread, because DNS lookups ignore socket
    timeouts. A bare TCP connect would not do: sandboxes often accept any connection and then hang.
    """
    result: list[int | str] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s) as answer:
                result.append(int(answer.status))
        except urllib.error.HTTPError as e:  # a status >= 400 is still an answer
            result.append(int(e.code))
        except (OSError, ValueError) as e:
            result.append(f"{url} is unreachable: {e.__class__.__name__}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return result[0] if result else f"{url} did not answer within {timeout_s:g} s"
