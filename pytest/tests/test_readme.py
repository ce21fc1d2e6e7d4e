"""README's "Use it from your project" example, run as written."""
import re

from conftest import BUILD_DIR, ROOT


def test_the_readme_example_runs(pytester, monkeypatch):
    """README's "Use it from your project" test file passes as written, in a
    session that loads the plugin by name as an installed one loads itself."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use it from your project"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    pytester.makepyfile(test_pm=code)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "pytest"))
    result = pytester.runpytest_inprocess("-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}",
                                          "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(["*test_private_messages?nmdc? PASSED*", "*test_hub_sees_logins?adc? PASSED*"])
