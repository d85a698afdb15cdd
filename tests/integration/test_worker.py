"""The stream worker (a real Faust process) against the real broker: every rule kind and
every reason code it raises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode
from schemas.messages import Conversion, Offer, PostbackIssue
from streams.offers_apply import apply_offers, published_offers
from tests.processes import Process
from tests.streams_support import (
    click,
    offer,
    outcome,
    outcomes,
    postback,
    publish_offers,
    send,
    start_worker,
)
from tests.waiting import eventually, read_topic

pytestmark = pytest.mark.kafka

# Long enough for a test to publish an offer while a postback waits for it.
GRACE_S = 5.0
KETO = offer(
    "keto",
    {"event": "purchase", "payout": "postback"},
    {"event": "upsell", "payout": "50%", "recurrent": True},
    {"event": "rebill", "payout": "10.00", "recurrent": True},
    {"event": "refund", "payout": "reverse"},
    {"event": "chargeback", "payout": "reverse"},
    {"event": "order_impression", "payout": "kpi"},
    {"event": "*", "payout": "postback"},
)
FITNESS = offer("fitness", {"event": "*", "payout": "postback"})
TOKENED = offer("tokened", {"event": "*", "payout": "postback"}, postback_token="s3cret")
SHORT = offer("short", {"event": "purchase", "payout": "postback"}, attribution_window_days=1)


@pytest.fixture(scope="module")
def worker_settings(
    base_settings: Settings, kafka: object, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return base_settings.replace(
        kafka_bootstrap_servers=kafka.bootstrap_servers,  # type: ignore[attr-defined]
        data_dir=tmp_path_factory.mktemp("worker"),
        late_click_grace_s=GRACE_S,
        click_sweep_s=1.0,
    )


@pytest.fixture(scope="module")
def worker(worker_settings: Settings) -> Iterator[Process]:
    publish_offers(worker_settings, KETO, FITNESS, TOKENED, SHORT)
    process = start_worker(worker_settings, worker_settings.data_dir / "worker.log")
    yield process
    process.stop()


@pytest.fixture
async def producer(worker_settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=worker_settings.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def test_postback_after_its_click_becomes_a_conversion(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    c = click()
    p = postback(c.click_id)
    await send(producer, c, p)

    conversion = await outcome(worker_settings, p)
    assert isinstance(conversion, Conversion)
    assert conversion.click_id == c.click_id
    assert conversion.offer_id == "keto"
    assert conversion.payout == Decimal("12.50")
    assert conversion.rule == "purchase: postback"
    assert conversion.traffic_source == "fb"
    assert conversion.clicked_at == c.clicked_at


async def test_postback_before_its_click_waits_for_the_click(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    c = click("fitness")
    p = postback(c.click_id, payout="30.00")
    await send(producer, p)
    # Longer than the grace period would be wrong here: the click comes well within it.
    await send(producer, c)

    conversion = await outcome(worker_settings, p)
    assert isinstance(conversion, Conversion)
    assert (conversion.offer_id, conversion.payout) == ("fitness", Decimal("30.00"))


async def test_a_click_that_never_comes_makes_unknown_click_after_the_grace_period(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    c = click()
    p = postback(c.click_id)
    await send(producer, p)

    issue = await outcome(worker_settings, p)
    assert isinstance(issue, PostbackIssue)
    assert issue.reason == "unknown_click"
    assert issue.detail.startswith("click_id")
    # Decided once: the click arriving now finds nothing waiting and changes nothing.
    await send(producer, c)
    again = postback(c.click_id, receipt="OTHER001")
    await send(producer, again)
    assert isinstance(await outcome(worker_settings, again), Conversion)
    found = await outcomes(worker_settings, [p.postback_id])
    assert {type(o) for o in found[p.postback_id]} == {PostbackIssue}


async def test_a_refund_before_its_sale_waits_for_the_sale_and_reverses_it(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    # Two receivers, or a spooled sale: the refund reaches the worker first.
    c = click()
    refund = postback(c.click_id, "refund", None, "EARLYREF")
    sale = postback(c.click_id, "purchase", "41.00", "EARLYREF")
    await send(producer, c, refund)
    await parked(worker_settings, c.click_id)
    await send(producer, sale)

    found = await outcomes(worker_settings, [refund.postback_id, sale.postback_id])
    paid = {pid: [o.payout for o in found[pid] if isinstance(o, Conversion)] for pid in found}
    assert paid == {sale.postback_id: [Decimal("41.00")],
                    refund.postback_id: [Decimal("-41.00")]}, found


async def test_a_postback_waits_for_an_offer_published_after_it(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    c = click("latecomer")
    p = postback(c.click_id, payout="23.00")
    await send(producer, c, p)
    await parked(worker_settings, c.click_id)
    await asyncio.to_thread(
        publish_offers, worker_settings, offer("latecomer", {"event": "*", "payout": "50%"}))

    conversion = await outcome(worker_settings, p)
    assert isinstance(conversion, Conversion), conversion
    assert conversion.payout == Decimal("11.500000")


async def parked(settings: Settings, click_id: str) -> None:
    """Wait until the worker parked a postback for this click (its pending table's
    changelog has the key)."""
    await read_topic(settings.bootstrap_servers, "hopstream-worker-pending_postbacks-changelog",
                     lambda rs: any(r.key == click_id.encode() for r in rs))


async def test_every_payout_kind_dedupe_and_reversal_on_one_click(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    c = click()
    sale = postback(c.click_id, "purchase", "37.00", "SALE0001")
    upsell = postback(c.click_id, "upsell", "25.00", "UPSL0001")
    upsell2 = postback(c.click_id, "upsell", "12.345679", "UPSL0002")
    rebill2 = postback(c.click_id, "rebill", "99.00", "SALE0001-B002")
    rebill3 = postback(c.click_id, "rebill", None, "SALE0001-B003")
    same_receipt = postback(c.click_id, "purchase", "37.00", "SALE0001")
    second_sale = postback(c.click_id, "purchase", "37.00", "SALE0002")
    same_upsell = postback(c.click_id, "upsell", "25.00", "UPSL0001")
    impression = postback(c.click_id, "order_impression", None, "")
    refund = postback(c.click_id, "refund", None, "UPSL0001")
    refund_again = postback(c.click_id, "refund", None, "UPSL0001")
    chargeback = postback(c.click_id, "chargeback", "-37.00", "SALE0001")
    nothing = postback(c.click_id, "chargeback", None, "NEVERSLD")
    other = postback(c.click_id, "bonus", None, "BONS0001")
    story = [sale, upsell, upsell2, rebill2, rebill3, same_receipt, second_sale, same_upsell,
             impression, refund, refund_again, chargeback, nothing, other]
    await send(producer, c, *story)

    found = await outcomes(worker_settings, [p.postback_id for p in story])
    result = {p.postback_id: found[p.postback_id][0] for p in story}

    def paid(p: object) -> Decimal:
        conversion = result[p.postback_id]  # type: ignore[attr-defined]
        assert isinstance(conversion, Conversion), conversion
        return conversion.payout

    def reason(p: object) -> str:
        issue = result[p.postback_id]  # type: ignore[attr-defined]
        assert isinstance(issue, PostbackIssue), issue
        return issue.reason

    assert paid(sale) == Decimal("37.00")                 # postback
    assert paid(upsell) == Decimal("12.50")               # 50%
    assert paid(upsell2) == Decimal("6.172840")           # 50%, half-even to 6 places
    assert paid(rebill2) == paid(rebill3) == Decimal("10.00")  # fixed, recurrent
    assert reason(same_receipt) == "duplicate"            # same receipt and event
    assert reason(second_sale) == "duplicate"             # purchase is not recurrent
    assert reason(same_upsell) == "duplicate"             # recurrent, but same receipt
    assert paid(impression) == Decimal(0)                 # kpi
    assert paid(refund) == Decimal("-12.50")              # reverses the upsell's credit
    assert reason(refund_again) == "duplicate"
    assert paid(chargeback) == Decimal("-37.00")          # reverses the sale
    assert reason(nothing) == "nothing_to_reverse"       # after waiting for a sale
    assert reason(other) == "missing_payout"              # `*: postback`, none sent
    total = sum(o.payout for o in result.values() if isinstance(o, Conversion))
    assert total == Decimal("26.172840")  # 37 + 12.5 + 6.17284 + 20 - 12.5 - 37


async def test_offer_token_window_and_rule_issues(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    ghost, tokened, short, old = click("ghost"), click("tokened"), click("short"), click(
        "short", age=timedelta(days=3))
    cases = {
        "unknown_offer": postback(ghost.click_id),
        "bad_token": postback(tokened.click_id, token="guess"),
        "no_rule": postback(short.click_id, event="upsell"),
        "expired": postback(old.click_id),
    }
    good_token = postback(tokened.click_id, token="s3cret", receipt="TOKN0001")
    in_window = postback(short.click_id, receipt="SHRT0001")
    await send(producer, ghost, tokened, short, old, *cases.values(), good_token, in_window)

    for reason, p in cases.items():
        issue = await outcome(worker_settings, p)
        assert isinstance(issue, PostbackIssue)
        assert issue.reason == reason, issue.detail
        assert issue.postback_id == p.postback_id
    assert isinstance(await outcome(worker_settings, good_token), Conversion)
    assert isinstance(await outcome(worker_settings, in_window), Conversion)


async def test_a_changed_rule_applies_without_a_restart(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    # The worker follows the offers topic on its own: a change reaches it shortly after it
    # is published, not at the same instant, so each price is awaited with a deadline.
    def priced_at(amount: str) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            p = postback((c := click("live")).click_id)
            await send(producer, c, p)
            result = await outcome(worker_settings, p)
            return isinstance(result, Conversion) and result.payout == Decimal(amount)
        return probe

    await asyncio.to_thread(
        publish_offers, worker_settings, offer("live", {"event": "*", "payout": "5.00"}))
    await eventually(priced_at("5.00"), within=20, what="the first rule applied")
    await asyncio.to_thread(
        publish_offers, worker_settings, offer("live", {"event": "*", "payout": "7.00"}))
    await eventually(priced_at("7.00"), within=20, what="the new rule applied")


async def test_a_pruned_offer_is_retired_and_still_reverses_its_sales(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    retiring = offer("retiring", {"event": "purchase", "payout": "postback"},
                     {"event": "refund", "payout": "reverse"})
    await asyncio.to_thread(publish_offers, worker_settings, retiring)
    sold = click("retiring")
    sale = postback(sold.click_id, payout="20.00", receipt="RETIRE01")
    await send(producer, sold, sale)
    assert isinstance(await outcome(worker_settings, sale), Conversion)

    # `offers apply --prune` with a file that lists every published offer but this one.
    published = await published_offers(worker_settings)
    keep = {oid: decode(Offer, v) for oid, v in published.items() if oid != "retiring"}
    applied = await apply_offers(worker_settings, keep, prune=True)
    assert applied.retired == ["retiring"]

    async def new_sales_refused() -> bool:
        p = postback((c := click("retiring")).click_id)
        await send(producer, c, p)
        result = await outcome(worker_settings, p)
        return isinstance(result, PostbackIssue) and "retired" in result.detail

    await eventually(new_sales_refused, within=20, what="the retirement reached the worker")
    refund = postback(sold.click_id, "refund", None, "RETIRE01")
    await send(producer, refund)
    reversed_ = await outcome(worker_settings, refund)
    assert isinstance(reversed_, Conversion) and reversed_.payout == Decimal("-20.00")


async def test_clicks_older_than_the_longest_window_are_swept(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    ancient = click("keto", age=timedelta(days=90))  # longest window here: 60 days
    await send(producer, ancient)
    changelog = "hopstream-worker-clicks-changelog"
    key = ancient.click_id.encode()
    records = await read_topic(
        worker_settings.bootstrap_servers, changelog,
        lambda rs: any(r.key == key and r.value is None for r in rs),
    )
    assert [r.value is None for r in records if r.key == key] == [False, True]


async def test_a_refund_long_after_the_click_still_reverses_its_credit(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    # A sale 59 days after its click (inside keto's 60-day window) is credited; the click
    # is then older than any window, but the refund that comes later must still find it.
    sold = click("keto", age=timedelta(days=89))
    sale = postback(sold.click_id, payout="37.45", receipt="LATEREF1")
    sale.received_at = sold.clicked_at + timedelta(days=59)
    await send(producer, sold, sale)
    credited = await outcome(worker_settings, sale)
    assert isinstance(credited, Conversion) and credited.payout == Decimal("37.45")
    # A click as old without credit is swept: once its tombstone is out, a sweep ran after
    # the sale was credited.
    idle = click("keto", age=timedelta(days=89))
    await send(producer, idle)
    await read_topic(
        worker_settings.bootstrap_servers, "hopstream-worker-clicks-changelog",
        lambda rs: any(r.key == idle.click_id.encode() and r.value is None for r in rs),
    )
    refund = postback(sold.click_id, event="refund", payout="-37.45", receipt="LATEREF1")
    await send(producer, refund)
    reversed_ = await outcome(worker_settings, refund)
    assert isinstance(reversed_, Conversion), reversed_
    assert reversed_.payout == Decimal("-37.45")


async def test_a_broken_message_becomes_a_processing_error_not_a_loss(
    worker: Process, producer: AIOKafkaProducer, worker_settings: Settings
) -> None:
    bad = b'{"postback_id": "deadbeef", "click_id": 42}'
    await producer.send_and_wait(topics.RAW_POSTBACKS.name, key=b"k42", value=bad)

    records = await read_topic(
        worker_settings.bootstrap_servers, topics.POSTBACK_ISSUES.name,
        lambda rs: any("deadbeef" in decode(PostbackIssue, r.value).raw for r in rs),
    )
    issue = next(decode(PostbackIssue, r.value) for r in records
                 if "deadbeef" in decode(PostbackIssue, r.value).raw)
    assert issue.reason == "processing_error"
    assert "Postback" in issue.detail
