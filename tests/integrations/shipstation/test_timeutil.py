"""Pacific wall clock <-> UTC, including both DST edges (SHIPSTATION.md §A3)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.shipstation import timeutil


def test_parses_seven_fraction_digits_as_pacific():
    # V1-OAS shipment example: "2014-10-03T06:51:33.6270000" (PDT, UTC-7)
    assert timeutil.parse_pacific("2014-10-03T06:51:33.6270000") == datetime(
        2014, 10, 3, 13, 51, 33, 627000, tzinfo=UTC
    )
    assert timeutil.parse_pacific("2015-08-17T09:24:14.78") == datetime(2015, 8, 17, 16, 24, 14, 780000, tzinfo=UTC)
    assert timeutil.parse_pacific("2016-11-29 23:59:59") == datetime(2016, 11, 30, 7, 59, 59, tzinfo=UTC)  # PST
    assert timeutil.parse_pacific(None) is None


def test_repeated_hour_reads_as_the_earlier_pdt_instant():
    # 2024-11-03 01:30 happens at 08:30 UTC (PDT) and again at 09:30 UTC (PST): we choose PDT.
    assert timeutil.parse_pacific("2024-11-03T01:30:00.0000000") == datetime(2024, 11, 3, 8, 30, tzinfo=UTC)


def test_missing_hour_shifts_forward():
    # 2024-03-10 02:30 never happens; read as 03:30 PDT = 10:30 UTC.
    assert timeutil.parse_pacific("2024-03-10 02:30:00") == datetime(2024, 3, 10, 10, 30, tzinfo=UTC)


def test_filters_are_pacific_wall_clock():
    assert timeutil.to_filter(datetime(2024, 1, 15, 20, 0, tzinfo=UTC)) == "2024-01-15 12:00:00"
    assert timeutil.to_filter(datetime(2024, 7, 15, 20, 0, tzinfo=UTC)) == "2024-07-15 13:00:00"
    with pytest.raises(timeutil.PacificTimeError):
        timeutil.to_filter(datetime(2024, 1, 1))


def test_bad_stamp_is_a_clear_error():
    with pytest.raises(timeutil.PacificTimeError, match="not a ShipStation timestamp"):
        timeutil.parse_pacific("yesterday")


def test_poll_window_adds_an_hour_near_dst_changes():
    ordinary = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert timeutil.poll_window_start(ordinary) == ordinary - timedelta(minutes=5)
    fall_back = datetime(2024, 11, 3, 9, 10, tzinfo=UTC)
    assert timeutil.poll_window_start(fall_back) == fall_back - timedelta(minutes=65)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)))
def test_round_trip_utc_through_pacific_stamps(moment):
    back = timeutil.parse_pacific(timeutil.to_response_stamp(moment))
    if back != moment:
        # Only the second pass of the repeated hour differs, and it reads one hour early (never late).
        assert moment - back == timedelta(hours=1)
        assert timeutil.utc_to_pacific(moment).dst() == timedelta(0)
        assert timeutil.utc_to_pacific(moment - timedelta(hours=1)).dst() == timedelta(hours=1)


def test_end_bounds_round_up_to_the_next_second():
    """A change at 12:00:00.4 must be inside a poll whose End is 12:00:00.9 (filters have seconds)."""
    from datetime import UTC, datetime

    from integrations.shipstation import timeutil

    end = datetime(2026, 7, 1, 19, 0, 0, 900000, tzinfo=UTC)  # 12:00:00.9 PDT
    assert timeutil.to_filter_end(end) == "2026-07-01 12:00:01"
    assert timeutil.to_filter_end(end.replace(microsecond=0)) == "2026-07-01 12:00:00"
