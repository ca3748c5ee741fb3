"""`hardship demo` prints the worker's lag when it grows, and when it is back to zero."""

from __future__ import annotations

from streams.demo import lag_news


def test_lag_is_printed_when_it_grows_and_when_it_is_caught_up():
    shown, lines = 0, []
    for lag in (0, 200, 1_500, 1_900, 2_600, 5_000, 4_000, 0, 0, 300):
        news, shown = lag_news(shown, lag)
        lines.append(news)
    assert [line is not None for line in lines] == [False, False, True, False, True, True, False, True, False, False]
    assert lines[2].startswith("worker lag 1,500 messages (was 0)")
    assert lines[5].startswith("worker lag 5,000 messages (was 2,600)")
    assert lines[7] == "worker lag 0: caught up"
