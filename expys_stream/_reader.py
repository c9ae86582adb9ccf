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
from ._connection_events import StreamState
from ._errors import (
    AuthenticationError,
    ExpysError,
    ReadTimeout,
    RetryLimitExceeded,
    StreamClosed,
    TLSVerificationError,
    TransportError,
)
from ._policy import gives_up, reset_attempts, retry_delay
from ._stream_parts import Prelude, _Failure, _Item, _Prelude, _Retry
from ._transport import read_timeout_error

__all__: list[str] = []

logger = logging.getLogger("expys_stream")


class _Reader(_Connection):
    """The attempt loop; the state is the stream's (``_StreamCore``)."""

    __slots__ = ()

    _prelude: Prelude | None
    _restart: bool
    _reader_scope: anyio.CancelScope | None
    _stopped: bool
    _shut: bool

    async def _run(self, send: Channel[_Item]) -> None:
        lifecycle = self._lifecycle
        try:
            if not self._stopped:  # aclose() may come before the task starts
                await self._read_forever(send)
        except Exception as exc:  # becomes the stream's terminal error
            if isinstance(exc, ExpysError):  # (not a token provider's own error)
                self._secrets.error(exc)
                if lifecycle.state is not StreamState.CLOSED:
                    if isinstance(exc, StreamClosed):  # the client was closed
                        lifecycle.close()
                    else:
                        lifecycle.give_up(exc)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                if lifecycle.outbox:
                    await send.put(lifecycle.drain())  # GaveUp, before the error
                await send.put(_Failure(exc))
        finally:
            lifecycle.close()  # (idempotent: after a 204 or GaveUp, nothing)
            send.close_put()

    async def _read_forever(self, send: Channel[_Item]) -> None:
        # Each attempt (its backoff sleep or the prelude, its connection and
        # its reads) runs in a cancel scope of its own. aclose() and
        # restart() cancel it; while a bulk body waits on the socket, its
        # deadline is the read timeout. So an idle stream holds one scope,
        # and a scope that its deadline cancelled is never reused.
        options = self._options
        lifecycle = self._lifecycle
        retries = 0  # consecutive failed attempts (the policy's counter)
        auth_retry_spent = False  # a 401 had its fresh token since the last connection
        delay = 0.0  # what the last Retrying announced
        while True:
            error: ExpysError | None = None
            retry_after = None
            if self._shut:  # closed before this attempt began: no token fetched
                raise StreamClosed("the client was closed")
            with anyio.CancelScope() as scope:
                self._reader_scope = scope
                if self._stopped:  # stopped while the last attempt handed over
                    scope.cancel()
                if lifecycle.state is StreamState.RETRYING:
                    await anyio.sleep(delay)
                else:  # the first attempt: the prelude comes before it
                    await self._run_prelude(send)  # its errors are final
                try:
                    if await self._attempt(send, scope, retries + 1):
                        logger.info("the server ended the stream (204): %s", self._url_for_log)
                        lifecycle.close()
                        if lifecycle.outbox:
                            await send.put(lifecycle.drain())  # its Disconnected
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
            restarted, self._restart = self._restart, False
            if self._stopped:  # aclose() cancelled the scope
                return
            if self._shut:
                raise StreamClosed("the client was closed")
            held, self._held = self._held, None
            if held:  # decoded before restart() cut the hand-over
                await send.put(held)
            if restarted and isinstance(error, ReadTimeout):
                # restart() cancelled the scope as bytes came in: the read
                # reports it as its deadline; it was the caller's drop.
                error = None
            if error is None and not restarted:  # the scope caught its deadline: silence
                error = read_timeout_error(self._url)
            if error is not None:
                self._secrets.error(error)  # before it is logged or raised
            connected_for = lifecycle.connected_for()
            if connected_for is not None:
                auth_retry_spent = False
            retries = reset_attempts(
                retries, connected_for=connected_for, reset_after=options.backoff.reset_after
            )
            if error is not None and gives_up(retries, options.max_retries):
                final = RetryLimitExceeded(retries + 1, error)
                lifecycle.give_up(final, attempt_error=error)
                raise final from error
            wait = retry_delay(
                options.backoff,
                retries,
                retry_field=self._retry_field,
                retry_after=retry_after,
                max_server_delay=options.max_server_delay,
            )
            if wait.reason == "capped":
                self._secrets.log(
                    logger,
                    logging.WARNING,
                    "the server asked to wait %.0f s before reconnecting to %s; "
                    "waiting %.2f s (max_server_delay)",
                    max(self._retry_field or 0.0, retry_after or 0.0),
                    self._url_for_log,
                    wait.seconds,
                )
            delay = wait.seconds
            if error is not None:  # (a restart keeps the counter where it is)
                retries += 1
            lifecycle.retry(error, wait, next_attempt=retries + 1)
            if lifecycle.outbox is not None:  # Retrying arrives before the wait
                await send.put(lifecycle.drain())
            self._secrets.log(
                logger,
                logging.INFO,
                "reconnecting to %s in %.2f s after: %s (resume after %r)",
                self._url_for_log,
                delay,
                "restart()" if error is None else error,
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
