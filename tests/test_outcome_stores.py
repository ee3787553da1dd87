"""How a sender's outcome stores take turns (``delivery.sender._PendingOutcomes``): up to
STORES_IN_FLIGHT at once on PostgreSQL, a store that must run alone (a lease renewal, or any
store on SQLite) beside no other, and nothing left unstored at the end."""

from __future__ import annotations

import asyncio

from newsletter.delivery import sender
from tests.support.loops import run_to_end


class Stores:
    """A store function whose stores stay open until the test lets them finish."""

    def __init__(self) -> None:
        self.open: list[tuple[list, list, bool]] = []
        self.most_at_once = 0
        self._release: list[asyncio.Event] = []

    async def store(self, batch, handovers, renew) -> bool:
        release = asyncio.Event()
        self.open.append((batch, handovers, renew))
        self._release.append(release)
        self.most_at_once = max(self.most_at_once, len(self.open))
        await release.wait()
        self.open.remove((batch, handovers, renew))
        return True

    def finish_oldest(self) -> None:
        self._release.pop(0).set()


def alone_when_renewing(batch, renew) -> bool:
    return bool(renew)


async def turns(times: int = 5) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


def test_a_second_store_starts_while_the_first_is_in_flight_and_a_third_waits_for_a_free_one():
    async def scenario():
        stores = Stores()
        pending = sender._PendingOutcomes(stores.store, alone_when_renewing)
        first = pending.add("the outcome of mail 1")
        await turns()
        second = pending.count_handover(2)
        await turns()
        assert len(stores.open) == 2  # the count did not wait behind the outcome's store
        third = pending.count_handover(3)
        fourth = pending.count_handover(4)
        await turns()
        assert len(stores.open) == 2 and not third.done()
        stores.finish_oldest()
        await turns()
        assert first.result() is True and third is fourth  # both joined the next store
        assert [handovers for _, handovers, _ in stores.open] == [[2], [3, 4]]
        while stores.open:
            stores.finish_oldest()
            await turns()
        await pending.close()
        assert second.result() and third.result() and stores.most_at_once == sender.STORES_IN_FLIGHT

    run_to_end(scenario)


def test_a_renewal_runs_beside_no_other_store_and_close_stores_everything():
    async def scenario():
        stores = Stores()
        pending = sender._PendingOutcomes(stores.store, alone_when_renewing)
        pending.count_handover(1)
        await turns()
        pending.renew()
        await turns()
        assert [renew for *_, renew in stores.open] == [False]  # the renewal waits for the count
        stores.finish_oldest()
        await turns()
        assert [renew for *_, renew in stores.open] == [True]
        after = pending.count_handover(2)
        await turns()
        assert len(stores.open) == 1 and not after.done()  # nothing starts beside the renewal
        stores.finish_oldest()
        await turns()
        closing = asyncio.ensure_future(pending.close())
        await turns()
        assert not closing.done()
        stores.finish_oldest()
        await closing
        assert after.result() is True and stores.open == []

    run_to_end(scenario)
