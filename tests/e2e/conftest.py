# SPDX-License-Identifier: MIT
"""pytest fixtures for the end-to-end tests (tests/e2e/helpers.py does the work).

- stack: one stack per test module (nginx + hostagent-fcgi + hostagent-runner,
  4 workers, heartbeat 100 ms, runner dead after 1 s), for tests that leave it
  as they found it.
- fresh_stack: a factory, fresh_stack(**options) -> Stack, for tests that kill
  or reconfigure things; every stack it made is torn down after the test.
Both need ./build (./dev build); without it the tests are skipped, or fail
when HOSTAGENT_E2E_REQUIRE is set (./dev test sets it). A failing test's
report carries the tail of every live stack's logs.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import helpers  # noqa: E402

_live = []


def _need_build():
    missing = helpers.missing_binaries()
    if missing:
        msg = f"hostagent is not built ({', '.join(missing)}): run ./dev build first"
        if os.environ.get("HOSTAGENT_E2E_REQUIRE"):
            pytest.fail(msg)
        pytest.skip(msg)


def _teardown(stacks):
    problems = []
    for s in stacks:
        if s in _live:
            _live.remove(s)
        problems += s.stop()
    if problems:
        pytest.fail("stack teardown:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def stack(request):
    _need_build()
    s = helpers.Stack(label=request.module.__name__.rsplit(".", 1)[-1])
    _live.append(s)
    try:
        s.start()
    except BaseException:
        _live.remove(s)
        raise
    yield s
    _teardown([s])


@pytest.fixture
def fresh_stack(request):
    _need_build()
    made = []

    def make(**options):
        options.setdefault("label", request.node.name)
        s = helpers.Stack(**options)
        made.append(s)
        _live.append(s)
        return s.start()

    yield make
    _teardown(made)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _live:
        rep.sections.append(("hostagent logs", "\n".join(s.logs() for s in _live)))
