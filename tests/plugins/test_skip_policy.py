"""The skip policy (tests/plugins/skip_policy.py) and the figures summary
(tests/plugins/summary.py), each run on small test files in a pytest of their own (pytester),
loaded the way tests/conftest.py loads them."""

from __future__ import annotations

import textwrap

import pytest

from callcenter.settings import PROJECT_ROOT

pytest_plugins = ["pytester"]

CONFTEST = 'pytest_plugins = ["tests.plugins.skip_policy", "tests.plugins.summary"]\n'

SKIPPING_TESTS = """
import pytest

@pytest.mark.skip(reason="by mark")
def test_skip_mark():
    pass

@pytest.mark.skipif(True, reason="by condition")
def test_skipif_mark():
    pass

def test_skip_in_body():
    pytest.skip("in the body")

@pytest.fixture
def resource():
    pytest.skip("resource unavailable")

def test_skip_in_fixture(resource):
    pass

@pytest.mark.parametrize("value", [])
def test_empty_parameter_set(value):
    pass

def test_runs():
    assert 1 + 1 == 2

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A test folder loading the plugins as tests/conftest.py does, outside CI."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # subprocess runs import tests.plugins
    # the subprocess runs load only the plugins they name (-p xdist): the installed ones (the
    # API fuzzer among them) took most of a minute to import on a loaded machine
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_outside_ci_skips_stay_skips(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_skips=SKIPPING_TESTS)
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=5, xfailed=1)


def test_in_ci_every_kind_of_skip_fails(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_skips=SKIPPING_TESTS)
    result = suite.runpytest("-rs")
    # skips in setup are reported as errors, the one in the body as a failure; xfail untouched
    result.assert_outcomes(passed=1, failed=1, errors=4, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for node, reason in [
        ("test_skip_mark", "by mark"),
        ("test_skipif_mark", "by condition"),
        ("test_skip_in_body", "in the body"),
        ("test_skip_in_fixture", "resource unavailable"),
        ("test_empty_parameter_set", "got empty parameter set"),
    ]:
        result.stdout.fnmatch_lines([f"*test_skips.py::{node}* skipped in CI (*{reason}*"])
    result.stdout.fnmatch_lines(['*@pytest.mark.allowed_skip("why this test may skip in CI")*'])


def test_ci_is_recognised_case_insensitively_and_only_when_true(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_one="import pytest\n\ndef test_a():\n    pytest.skip('no')\n")
    monkeypatch.setenv("CI", "TRUE")
    suite.runpytest().assert_outcomes(failed=1)
    monkeypatch.setenv("CI", "false")
    suite.runpytest().assert_outcomes(skipped=1)


def test_a_marked_test_may_skip_in_ci_with_its_reason(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(
        test_allowed="""
        import pytest

        pytestmark = pytest.mark.allowed_skip("the whole module may skip")

        @pytest.mark.allowed_skip("needs a GPU, which CI lacks")
        def test_gpu():
            pytest.skip("no GPU")

        @pytest.mark.allowed_skip(reason="keyword form")
        @pytest.mark.skip(reason="by mark")
        def test_keyword():
            pass

        def test_by_module_mark():
            pytest.skip("module")
        """
    )
    result = suite.runpytest("-rs")
    result.assert_outcomes(skipped=3)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*no GPU [[]allowed to skip in CI: needs a GPU, which CI lacks[]]*",
            "*by mark [[]allowed to skip in CI: keyword form[]]*",
            "*module [[]allowed to skip in CI: the whole module may skip[]]*",
        ]
    )


@pytest.mark.parametrize("ci", ["true", ""])
def test_the_mark_without_a_reason_fails_everywhere(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    suite.makepyfile(
        test_bad_mark="""
        import pytest

        @pytest.mark.allowed_skip
        def test_no_reason():
            pytest.skip("x")

        @pytest.mark.allowed_skip("  ")
        def test_blank_reason():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*test_no_reason: allowed_skip needs a reason*"])
    result.stdout.fnmatch_lines(["*test_blank_reason: allowed_skip needs a reason*"])


MODULE_SKIPS = {
    "test_module_skip": """
        import pytest

        pytest.skip("not on this platform", allow_module_level=True)

        def test_never():
            pass
        """,
    "test_importorskip": """
        import pytest

        pytest.importorskip("no_such_module_12366")

        def test_never():
            pass
        """,
}


def test_module_level_skips_are_collection_errors_in_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_runs="def test_ok():\n    pass\n", **MODULE_SKIPS)
    suite.runpytest().assert_outcomes(passed=1, skipped=2)
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest()
    result.assert_outcomes(errors=2)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the run
    for line in [
        "test_module_skip.py skipped at collection in CI (*not on this platform)*",
        "test_importorskip.py skipped at collection in CI (*no_such_module_12366*",
    ]:
        result.stdout.fnmatch_lines([line])


def test_summary_prints_recorded_figures(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_figures="""
        def test_measures(record_property):
            record_property("summary", "top1 0.967\\nserved 0.953")
            record_property("other", "not shown")
        """
    )
    result = suite.runpytest("-q")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*- figures -*", "test_figures.py::test_measures:", "  top1 0.967", "  served 0.953"]
    )
    result.stdout.no_fnmatch_line("*not shown*")


def test_with_xdist_the_failure_reaches_the_controller(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(
        test_skips=SKIPPING_TESTS,
        test_figures=textwrap.dedent(
            """
            def test_measures(record_property):
                record_property("summary", "figure from a worker")
            """
        ),
    )
    result = suite.runpytest_subprocess("-p", "xdist", "-n", "2", "-rs")
    result.assert_outcomes(passed=2, failed=1, errors=4, xfailed=1)
    result.stdout.fnmatch_lines(["*test_skip_in_body* skipped in CI (*in the body*"])
    result.stdout.fnmatch_lines(["*- figures -*", "  figure from a worker"])
    suite.makepyfile(**MODULE_SKIPS)
    result = suite.runpytest_subprocess("-p", "xdist", "-n", "2")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_module_skip.py skipped at collection in CI*"])
