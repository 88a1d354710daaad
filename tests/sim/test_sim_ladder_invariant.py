"""The obligation-ladder invariant: replaying the metered records reproduces the levels logged."""

from datetime import timedelta

from test_sim_escrow_invariant import DAY, NODE, QATAR, World

from backchannel.log.records import format_timestamp

OBLIGATION = {
    "obligation": "iran-enrichment", "party": "iran", "metric": "stockpile_kg", "unit": "kg",
    "rate": 5, "burst": 20, "period_seconds": 30 * 86400, "ladder": ["none", "tier-1", "tier-2"],
    "hold_seconds": 14 * 86400, "recovery_pct": 50, "shared_with": [],
}  # fmt: skip


def _metered_world() -> World:
    world = World()
    world.run(QATAR, "define_obligation", OBLIGATION)
    for amount in (3, 15, 10, 8):  # the third overdraws the 20 kg burst: the level rises
        world.clock.advance(DAY)
        body = {
            "obligation": "iran-enrichment", "amount": amount, "unit": "kg",
            "observed_at": format_timestamp(world.clock.now() - timedelta(hours=1)), "source": None,
        }  # fmt: skip
        world.run(NODE, "record_consumption", body)
    return world


def _levels(world: World) -> list[int]:
    return [
        int(s.decode().signed.event.body["event"]["level"])
        for s in world.store.read("escrow-invariant")
        if s.decode().signed.event.type == "obligation.metered"
    ]


def test_the_service_s_ladder_is_the_replay_of_its_records():
    world = _metered_world()
    assert max(_levels(world)) >= 1, "the scenario should overdraw and escalate"
    assert [p for p in world.problems() if "obligation" in p] == []


def test_a_level_the_records_do_not_give_is_caught():
    world = _metered_world()
    last = next(
        dict(s.decode().signed.event.body["event"])
        for s in reversed(list(world.store.read("escrow-invariant")))
        if s.decode().signed.event.type == "obligation.metered"
    )
    world.clock.advance(DAY)
    forged = {**last, "level": 0 if last["level"] else 2, "observed_at": format_timestamp(world.clock.now())}
    world.forge("obligation.metered", forged)
    problems = [p for p in world.problems() if "obligation" in p]
    assert len(problems) == 1
    assert "the replay of its records gives" in problems[0]
