"""The reader task's loop: attempts, backoff, giving up.

The stream's reader runs :meth:`_Reader._run`; each attempt is a
:meth:`_Connection._attempt` in a cancel scope of its own.
"""

from __future__ import annotations

import logging
from contextlib import suppress

import anyio

from ._channel import Channel
from ._connection import _Connection
from ._errors import (
    AuthenticationError,
    ExpysError,
    RetryLimitExceeded,
    StreamClosed,
    TLSVerificationError,
    TransportError,
)
from ._policy import retry_delay
from ._stream_parts import Prelude, _Failure, _Item, _Prelude, _Retry
from ._transport import read_timeout_error

__all__: list[str] = []

logger = logging.getLogger("expys_stream")


class _Reader(_Connection):
    """The attempt loop; the state is the stream's (``_StreamCore``)."""

    __slots__ = ()

    _prelude: Prelude | None
    _reconnects: int
    _reader_scope: anyio.CancelScope | None
    _stopped: bool
    _shut: bool

    async def _run(self, send: Channel[_Item]) -> None:
        try:
            if not self._stopped:  # aclose() may come before the task starts
                await self._read_forever(send)
        except Exception as exc:  # becomes the stream's terminal error
            if isinstance(exc, ExpysError):  # (not a token provider's own error)
                self._secrets.error(exc)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.put(_Failure(exc))
        finally:
            send.close_put()

    async def _read_forever(self, send: Channel[_Item]) -> None:
        # Each attempt (its backoff sleep or the prelude, its connection and
        # its reads) runs in a cancel scope of its own. aclose() cancels it;
        # while a bulk body waits on the socket, its deadline is the read
        # timeout. So an idle stream holds one scope, and a scope that its
        # deadline cancelled is never reused.
        options = self._options
        attempt = 0  # consecutive failed attempts
        auth_retry_spent = False
        delay: float | None = None  # None: the first attempt, after the prelude
        while True:
            connected_at: list[float] = []
            error: ExpysError | None = None
            retry_after = None
            if self._shut:  # closed before this attempt began: no token fetched
                raise StreamClosed("the client was closed")
            with anyio.CancelScope() as scope:
                self._reader_scope = scope
                if delay is None:
                    await self._run_prelude(send)  # its errors are final
                else:
                    await anyio.sleep(delay)
                    self._reconnects += 1
                try:
                    if await self._attempt(send, scope, connected_at):
                        logger.info("the server ended the stream (204): %s", self._url_for_log)
                        return
                    error = TransportError("the server closed the stream")
                except _Retry as retry:
                    error, retry_after = retry.error, retry.retry_after
                except TLSVerificationError:
                    raise  # a configuration problem: it will not heal
                except AuthenticationError as exc:
                    if auth_retry_spent or isinstance(self._token, str) or self._token is None:
                        raise
                    auth_retry_spent = True  # one fresh token, then give up
                    error = exc
                except TransportError as exc:
                    error = exc
            if self._stopped:  # aclose() cancelled the scope
                return
            if self._shut:
                raise StreamClosed("the client was closed")
            if error is None:  # the scope caught its deadline: silence
                error = read_timeout_error(self._url)
            self._secrets.error(error)  # before it is logged or raised
            if connected_at:
                auth_retry_spent = False
                if anyio.current_time() - connected_at[0] >= options.backoff.reset_after:
                    attempt = 0
            if options.max_retries is not None and attempt >= options.max_retries:
                raise RetryLimitExceeded(attempt + 1, error) from error
            wait = retry_delay(
                options.backoff,
                attempt,
                retry_field=self._retry_floor or None,
                retry_after=retry_after,
                max_server_delay=options.max_server_delay,
            )
            if wait.reason == "capped":
                self._secrets.log(
                    logger,
                    logging.WARNING,
                    "the server asked to wait %.0f s before reconnecting to %s; "
                    "waiting %.2f s (max_server_delay)",
                    max(self._retry_floor, retry_after or 0.0),
                    self._url_for_log,
                    wait.seconds,
                )
            delay = wait.seconds
            attempt += 1
            self._secrets.log(
                logger,
                logging.INFO,
                "reconnecting to %s in %.2f s after: %s (resume after %r)",
                self._url_for_log,
                delay,
                error,
                self._resume_id or None,
            )

    async def _run_prelude(self, send: Channel[_Item]) -> None:
        if self._prelude is None:
            return
        items, resume = await self._prelude()
        if resume is not None:
            self._resume_id = resume
        if items:
            await send.put(_Prelude(items))
