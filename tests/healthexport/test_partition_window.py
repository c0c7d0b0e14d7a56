"""The partition layout: which partitions a table should have (a pure function of the date)."""

from __future__ import annotations

from datetime import date

from healthexport.lib.partitions import Partition, window

TODAY = date(2026, 11, 30)


def _names(partitions: list[Partition]) -> list[str]:
    return [partition.name for partition in partitions]


def test_an_empty_table_gets_one_partition_before_2014_one_per_past_year_and_months_from_january():
    wanted = window("t", date(2014, 1, 1), [], TODAY)

    assert _names(wanted) == [
        "t_before_2014",
        *(f"t_p{year}" for year in range(2014, 2026)),
        *(f"t_p2026_{month:02d}" for month in range(1, 13)),
        "t_p2027_01",
        "t_p2027_02",
    ]
    assert wanted[0] == Partition("t_before_2014", None, date(2014, 1, 1))
    assert wanted[1] == Partition("t_p2014", date(2014, 1, 1), date(2015, 1, 1))
    assert len(wanted) == 27


def test_a_past_year_with_monthly_partitions_gets_only_its_missing_months():
    existing = [Partition("t_p2025_11", date(2025, 11, 1), date(2025, 12, 1))]

    wanted = window("t", date(2025, 1, 1), existing, TODAY)

    assert _names(wanted)[:12] == ["t_before_2014", *(f"t_p2025_{month:02d}" for month in (*range(1, 11), 12))]


def test_nothing_is_wanted_twice():
    first = window("t", date(2014, 1, 1), [], TODAY)

    assert window("t", date(2014, 1, 1), first, TODAY) == []
    assert window("t", date(2014, 1, 1), first, date(2027, 1, 15)) == [
        Partition("t_p2027_03", date(2027, 3, 1), date(2027, 4, 1)),
        Partition("t_p2027_04", date(2027, 4, 1), date(2027, 5, 1)),
    ]


def test_the_window_starts_at_the_first_month_asked_for_and_never_before_2014():
    assert _names(window("t", date(2026, 11, 1), [], TODAY)) == [
        "t_before_2014",
        "t_p2026_11",
        "t_p2026_12",
        "t_p2027_01",
        "t_p2027_02",
    ]
    assert _names(window("t", date(1970, 1, 1), [], TODAY))[1] == "t_p2014"
