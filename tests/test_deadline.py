"""BoundedCalls: a whole-call deadline, a bound on running calls, and the threads reused between calls.

Plain callables on real threads: nothing here is stubbed (the STS side of the deadline is
in test_sts.py, with a trickling peer).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from support import in_threads

from sls_access._deadline import BoundedCalls, DeadlinePassed, TooManyCalls


def _thread() -> threading.Thread:
    return threading.current_thread()


def _wait_until(condition: object, seconds: float = 5.0) -> None:
    assert callable(condition)
    until = time.monotonic() + seconds
    while not condition() and time.monotonic() < until:
        time.sleep(0.01)


def test_the_call_s_result_is_returned() -> None:
    assert BoundedCalls(4, "test").run(lambda: 42, 5) == 42


def test_the_call_s_exception_is_raised() -> None:
    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        BoundedCalls(4, "test").run(fail, 5)


def test_the_caller_stops_waiting_at_the_deadline() -> None:
    release = threading.Event()
    calls = BoundedCalls(4, "test")
    started = time.monotonic()
    with pytest.raises(DeadlinePassed, match=r"within 0\.3 s"):
        calls.run(release.wait, 0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert calls.running == 1  # still running, counted
    release.set()


def test_the_call_runs_on_a_named_daemon_thread_not_the_caller_s() -> None:
    thread = BoundedCalls(4, "sls-access-test").run(_thread, 5)
    assert thread is not threading.current_thread()
    assert thread.daemon
    assert thread.name.startswith("sls-access-test-")


def test_a_second_call_runs_on_the_thread_of_the_first_once_it_finished() -> None:
    calls = BoundedCalls(4, "test")
    first = calls.run(_thread, 5)
    assert calls.run(_thread, 5) is first
    assert calls.idle_threads == 1


def test_a_call_that_raised_leaves_its_thread_for_the_next() -> None:
    calls = BoundedCalls(4, "test")
    seen: list[threading.Thread] = []

    def fail() -> None:
        seen.append(threading.current_thread())
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        calls.run(fail, 5)
    assert calls.run(_thread, 5) is seen[0]
    assert calls.running == 0


def test_a_call_stuck_past_its_deadline_does_not_make_the_next_wait() -> None:
    release = threading.Event()
    calls = BoundedCalls(4, "test")
    stuck: list[threading.Thread] = []

    def hang() -> None:
        stuck.append(threading.current_thread())
        release.wait(30)

    with pytest.raises(DeadlinePassed):
        calls.run(hang, 0.2)
    started = time.monotonic()
    thread = calls.run(_thread, 5)
    assert time.monotonic() - started < 1
    assert thread is not stuck[0]
    assert calls.running == 1  # the stuck one
    release.set()


def test_a_stuck_call_s_thread_is_reused_once_it_ends() -> None:
    release = threading.Event()
    calls = BoundedCalls(1, "test")
    stuck: list[threading.Thread] = []

    def hang() -> None:
        stuck.append(threading.current_thread())
        release.wait(30)

    with pytest.raises(DeadlinePassed):
        calls.run(hang, 0.1)
    release.set()
    _wait_until(lambda: calls.running == 0)
    assert calls.run(_thread, 5) is stuck[0]


def test_when_limit_calls_are_running_the_next_fails_at_once() -> None:
    release = threading.Event()
    calls = BoundedCalls(2, "test")
    for _ in range(2):
        with pytest.raises(DeadlinePassed):
            calls.run(release.wait, 0.1)
    started = time.monotonic()
    with pytest.raises(TooManyCalls, match="2 calls are still running"):
        calls.run(lambda: 1, 5)
    assert time.monotonic() - started < 0.5
    release.set()
    _wait_until(lambda: calls.running == 0)
    assert calls.run(lambda: 1, 5) == 1


def test_idle_threads_exit_after_the_idle_time() -> None:
    calls = BoundedCalls(4, "test", idle=0.2)
    thread = calls.run(_thread, 5)
    thread.join(5)
    assert not thread.is_alive()
    assert calls.idle_threads == 0
    assert calls.run(_thread, 5) is not thread  # a new one, and it works


def test_many_concurrent_callers_each_get_their_own_result_from_at_most_as_many_threads() -> None:
    calls = BoundedCalls(64, "test")
    lock = threading.Lock()
    threads: set[threading.Thread] = set()
    counter = iter(range(10**9))

    def many() -> list[tuple[int, int]]:
        got = []
        for _ in range(300):
            with lock:
                n = next(counter)

            def work(n: int = n) -> int:
                with lock:
                    threads.add(threading.current_thread())
                return n * 2

            got.append((n, calls.run(work, 10)))
        return got

    results, errors = in_threads(16, many)
    assert errors == []
    pairs = [pair for got in results for pair in got]
    assert len(pairs) == 16 * 300
    assert all(result == n * 2 for n, result in pairs)
    assert len(threads) <= 16
    assert calls.running == 0
    assert calls.idle_threads == len(threads)


def test_no_call_is_lost_when_idle_threads_exit_while_calls_arrive() -> None:
    # An idle time of a millisecond: threads exit while callers hand them calls, all the time.
    calls = BoundedCalls(64, "test", idle=0.001)

    def many() -> int:
        done = 0
        for i in range(200):
            time.sleep(0.0005 * (i % 4))
            done += calls.run(lambda: 1, 5)  # a lost call would raise DeadlinePassed
        return done

    results, errors = in_threads(8, many)
    assert errors == []
    assert results == [200] * 8
    _wait_until(lambda: calls.idle_threads == 0)
    assert calls.running == 0
    assert calls.idle_threads == 0


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_starts_its_own_threads() -> None:
    # In a child process of its own: the parent's idle thread does not exist in the fork's
    # child, which must not hand it a call (the call would wait for its deadline).
    script = textwrap.dedent("""
        import os, sys, warnings
        warnings.simplefilter("ignore")
        from sls_access._deadline import BoundedCalls
        calls = BoundedCalls(1, "test")
        calls.run(int, 5)
        assert calls.idle_threads == 1
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if calls.run(lambda: 7, 2) == 7 and calls.running == 0 else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
