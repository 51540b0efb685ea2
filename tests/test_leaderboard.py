"""Leaderboard: schema validation, aggregation to markdown/PNG/CSV, and the Gradio app in headless Chromium."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pns_hub.eval.leaderboard import (ResultRecord, ResultsError, cli_main, load_results, record_from_lighteval,
                                 to_dataframe, to_markdown)


REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"
# fixture averages (%): pns-dpo 2.17, rs-dpo 1.77, base 1.01; gsm8k: rs 9 > pns 6 > base 2


def test_load_fixture_folder_recursively_and_skip_lighteval_files():
    records, rejected = load_results(FIXTURE)
    assert rejected == []
    assert sorted(r.method for r in records) == ["base", "pns-dpo", "rs-dpo"]  # hub-dataset/org/ included
    df = to_dataframe(records)
    assert df["method"].tolist() == ["pns-dpo", "rs-dpo", "base"]  # by average, best first
    assert df["average"].tolist() == [2.17, 1.77, 1.01]
    assert list(df.columns[4:11]) == ["gsm8k", "math_500", "aime24", "aime25", "amc23", "minerva_math",
                                      "olympiadbench"]
    md = to_markdown(df)
    assert md.splitlines()[2].startswith("| pns-hub/smollm2-135m-pns-dpo | HuggingFaceTB/SmolLM2-135M-Instruct | "
                                         "pns-dpo | pns | 6.00 | 5.00 |")


def test_validation_names_file_and_field(tmp_path):
    good = json.loads((FIXTURE / "smollm2-base.json").read_text())
    for field, value, match in [("scores", {"gsm8k": 1.5}, "scores.gsm8k"), ("method", "", "'method'"),
                                ("schema_version", 9, "schema_version"), ("extra", 1, "unknown field"),
                                ("engine", 3, "engine.*string or null")]:
        bad = {**good, field: value}
        with pytest.raises(ResultsError, match=match):
            ResultRecord.from_dict(bad, "x.json")
    (tmp_path / "ok.json").write_text(json.dumps(good))
    (tmp_path / "broken.json").write_text("{not json")
    records, rejected = load_results(tmp_path)
    assert len(records) == 1 and len(rejected) == 1 and "broken.json" in rejected[0]["error"]


def test_record_from_lighteval_results():
    lighteval = {"results": {"pns_gsm8k|0": {"pass@1": 0.25, "pass@1_stderr": 0.1, "pass@2": 0.5},
                             "pns_aime24|0": {"pass@1": 0.0, "pass@2": 0.0}, "all": {"pass@1": 0.125}}}
    record = record_from_lighteval(lighteval, model="m", method="pns-dpo", num_samples=2)
    assert record.scores == {"gsm8k": 0.25, "aime24": 0.0} and record.average == 0.125
    assert record.passk["gsm8k"] == {"1": 0.25, "2": 0.5}
    with pytest.raises(ResultsError, match="no pns_"):
        record_from_lighteval({"results": {"gsm8k|0": {"pass@1": 1.0}}}, model="m")


def test_cli_writes_markdown_png_csv(tmp_path, capsys):
    assert cli_main([str(FIXTURE), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    assert "pns-hub/smollm2-135m-rs-dpo" in (tmp_path / "leaderboard.md").read_text()
    assert len((tmp_path / "leaderboard.csv").read_text().splitlines()) == 4
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURE, bad)
    (bad / "oops.json").write_text('{"model": "x"}')
    assert cli_main([str(bad), "--out", str(tmp_path / "o2")]) == 1  # rejected files are an error, and listed
    assert "oops.json" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# Gradio app in headless Chromium
# --------------------------------------------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    pytest.importorskip("gradio")
    port = _free_port()
    env = {**os.environ, "PNS_LEADERBOARD_RESULTS": str(FIXTURE), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "leaderboard" / "app.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"the app did not start: {proc.stdout.read()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium/chromedriver missing: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _models_in_table(driver) -> list[str]:
    """First cell (model) of each body row of Gradio's virtualised grid (header row has aria-rowindex 1)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard-table [role=row]'))"
        ".filter(r => r.getAttribute('aria-rowindex') !== '1')"
        ".map(r => r.innerText.split('\\n')[0].trim()).filter(t => t.length > 0)")


def _wait_for(driver, expected, timeout=30):
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        seen = _models_in_table(driver)
        if seen == expected:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"table shows {seen}, expected {expected}")


def _click_label(driver, container_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    labels = driver.find_elements(By.CSS_SELECTOR, f"#{container_id} label")
    match = [label for label in labels if label.text.strip() == text]
    assert match, f"no '{text}' in #{container_id}: {[label.text for label in labels]}"
    match[0].click()


def test_app_shows_rows_sorts_and_filters(app_url, browser):
    pns, rs, base = "pns-hub/smollm2-135m-pns-dpo", "pns-hub/smollm2-135m-rs-dpo", "HuggingFaceTB/SmolLM2-135M-Instruct"
    browser.get(app_url)
    _wait_for(browser, [pns, rs, base], timeout=60)  # loads, all fixture rows, sorted by average
    _click_label(browser, "sort-by", "gsm8k")
    _wait_for(browser, [rs, pns, base])
    _click_label(browser, "sort-by", "math_500")
    _wait_for(browser, [pns, base, rs])
    _click_label(browser, "sort-desc", "Descending")  # ascending now
    _wait_for(browser, [rs, base, pns])
    _click_label(browser, "filter-method", "base")  # untick: base model hidden
    _wait_for(browser, [rs, pns])
    _click_label(browser, "filter-source", "rejection_sampling")
    _wait_for(browser, [pns])


def test_glow_and_nsr_runs_sit_beside_pns_dpo(tmp_path):
    """Issue 7: every method's runs (GLOW, NSR, W-REINFORCE) share one table and one average with PNS-DPO."""
    from pns_hub.eval import leaderboard
    base = json.loads((Path(__file__).parent / "fixtures/results/smollm2-base.json").read_text())
    for i, method in enumerate(["pns-dpo", "glow", "nsr", "w-reinforce"]):
        record = dict(base, model=f"org/smollm2-{method}", method=method, base=base["model"],
                      scores={k: min(1.0, v + 0.01 * i) for k, v in base["scores"].items()})
        (tmp_path / f"{method}.json").write_text(json.dumps(record))
    out = leaderboard.build_leaderboard(tmp_path, tmp_path / "out")
    assert out["records"] == 4 and not out["rejected"]
    table = Path(out["markdown"]).read_text()
    for method in ("pns-dpo", "glow", "nsr", "w-reinforce"):
        assert f"| {method} |" in table
    df = leaderboard.to_dataframe(leaderboard.load_results(tmp_path)[0])
    assert list(df.sort_values("average", ascending=False)["method"])[0] == "w-reinforce"


def test_intervals_and_paired_deltas_reach_markdown_png_csv(tmp_path):
    """Issue 17: every score shows n and a 95% interval; a trained model gets a paired difference to its base."""
    from pns_hub.eval import leaderboard
    from pns_hub.stats import paired_bootstrap, wilson_interval

    ids = [f"testbed/test/add/s1/{i:04d}" for i in range(200)]
    base_ok = [int(i % 10 < 4) for i in range(200)]                    # 80 / 200
    dpo_ok = [1 if i % 10 == 4 else ok for i, ok in enumerate(base_ok)]  # + 20 problems, never worse: 100 / 200
    other_ok = [1] * 200  # another base model, newer, on the same problems: never the reference of org/dpo
    for name, method, ok in (("org/base", "base", base_ok), ("org/dpo", "pns-dpo", dpo_ok),
                             ("org/other-base", "base", other_ok)):
        per_problem = {"testbed": dict(zip(ids, ok))}
        record = ResultRecord(model=name, method=method, base=None if method == "base" else "org/base",
                              scores={"testbed": sum(ok) / 200}, per_problem=per_problem,
                              intervals=leaderboard.intervals_from_counts(per_problem, 1),
                              date="2026-11-24" if name == "org/other-base" else "2026-11-23")
        leaderboard.write_record(record, tmp_path / "runs" / f"{name.split('/')[1]}.json")
    out = leaderboard.build_leaderboard(tmp_path / "runs", tmp_path / "out")
    low, high = wilson_interval(100, 200)
    md = Path(out["markdown"]).read_text()
    assert f"| 50.00 [{100 * low:.1f}, {100 * high:.1f}] n=200 |" in md
    diff = paired_bootstrap(dpo_ok, base_ok)
    assert out["deltas"] == [{"model": "org/dpo", "method": "pns-dpo", "negative_source": "", "vs": "org/base",
                              "benchmark": "testbed", "n": 200, "delta": 10.0, "low": round(100 * diff.low, 2),
                              "high": round(100 * diff.high, 2), "p": round(diff.p_value, 4)}]
    assert diff.low > 0 and "| org/dpo | pns-dpo | org/base | testbed | 200 | +10.00 |" in md
    assert "testbed 95% CI" in (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()[0]
    assert (tmp_path / "out" / "deltas.csv").exists()
    assert (tmp_path / "out" / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    bad = json.loads((tmp_path / "runs" / "base.json").read_text())
    bad["intervals"]["testbed"]["low"] = 0.45  # above the score 0.4
    with pytest.raises(ResultsError, match="intervals.testbed"):
        ResultRecord.from_dict(bad, "bad.json")
    bad = json.loads((tmp_path / "runs" / "base.json").read_text())
    bad["per_problem"]["testbed"][ids[0]] = 2  # 2 correct of 1 sample
    with pytest.raises(ResultsError, match="per_problem.testbed"):
        ResultRecord.from_dict(bad, "bad.json")
