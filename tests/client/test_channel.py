"""The reader-to-consumer channel on its own: order, bound, ends, on both backends."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from expys_stream._channel import Channel

pytestmark = pytest.mark.anyio


async def test_items_come_out_in_order_and_a_full_buffer_makes_the_reader_wait() -> None:
    channel: Channel[int] = Channel(2)
    taken: list[int] = []
    async with anyio.create_task_group() as tg:

        async def reader() -> None:
            for i in range(5):
                await channel.put(i)
            channel.close_put()

        tg.start_soon(reader)
        with anyio.fail_after(5):
            while channel.statistics().tasks_waiting_send < 1:
                await anyio.lowlevel.checkpoint()
        stats = channel.statistics()
        assert stats.current_buffer_used == stats.max_buffer_size == 2
        with pytest.raises(anyio.EndOfStream):
            while True:
                taken.append(await channel.take())
    assert taken == [0, 1, 2, 3, 4]


async def test_a_waiting_consumer_wakes_for_an_item_and_for_the_end() -> None:
    channel: Channel[str] = Channel(1)
    async with anyio.create_task_group() as tg:

        async def consumer_waiting() -> None:
            while channel.statistics().tasks_waiting_receive < 1:
                await anyio.lowlevel.checkpoint()

        async def later() -> None:
            # Put and close only once the consumer waits: what is tested is
            # the wake-up, not an item that was already there.
            await consumer_waiting()
            await channel.put("a")
            await consumer_waiting()
            channel.close_put()

        tg.start_soon(later)
        with anyio.fail_after(5):
            assert await channel.take() == "a"
            with pytest.raises(anyio.EndOfStream):
                await channel.take()


async def test_closing_the_consumer_side_breaks_a_waiting_reader() -> None:
    channel: Channel[int] = Channel(1)
    await channel.put(1)
    async with anyio.create_task_group() as tg:
        failures: list[BaseException] = []

        async def reader() -> None:
            try:
                await channel.put(2)
            except anyio.BrokenResourceError as exc:
                failures.append(exc)

        tg.start_soon(reader)
        with anyio.fail_after(5):
            while channel.statistics().tasks_waiting_send < 1:
                await anyio.lowlevel.checkpoint()
        channel.close_take()
    assert len(failures) == 1
    assert channel.statistics().current_buffer_used == 0
    with pytest.raises(anyio.ClosedResourceError):
        await channel.take()


async def test_a_cancelled_take_leaves_the_channel_usable() -> None:
    channel: Channel[int] = Channel(1)
    scope = anyio.CancelScope()
    outcome: list[str] = []
    async with anyio.create_task_group() as tg:

        async def consumer() -> None:
            with scope:
                await channel.take()
                outcome.append("took")
            if scope.cancelled_caught:
                outcome.append("cancelled")

        tg.start_soon(consumer)
        with anyio.fail_after(5):  # cancel only once the take really waits
            while channel.statistics().tasks_waiting_receive < 1:
                await anyio.lowlevel.checkpoint()
        scope.cancel()
    assert outcome == ["cancelled"]
    await channel.put(7)
    assert await channel.take() == 7


async def test_a_cancelled_put_leaves_the_channel_usable() -> None:
    channel: Channel[int] = Channel(1)
    await channel.put(1)
    scope = anyio.CancelScope()
    outcome: list[str] = []
    async with anyio.create_task_group() as tg:

        async def reader() -> None:
            with scope:
                await channel.put(2)
                outcome.append("put")
            if scope.cancelled_caught:
                outcome.append("cancelled")

        tg.start_soon(reader)
        with anyio.fail_after(5):  # cancel only once the put really waits for room
            while channel.statistics().tasks_waiting_send < 1:
                await anyio.lowlevel.checkpoint()
        scope.cancel()
    assert outcome == ["cancelled"]
    # Taking wakes the cancelled waiter (a no-op), and the next put waits anew.
    assert await channel.take() == 1
    await channel.put(3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(channel.put, 4)
        with anyio.fail_after(5):
            while channel.statistics().tasks_waiting_send < 1:
                await anyio.lowlevel.checkpoint()
            assert await channel.take() == 3
    assert await channel.take() == 4
