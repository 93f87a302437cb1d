"""What a researcher sees, in real Chromium: a Draw clicked during a redraw is drawn, an upload
after a refused one works, Diagnostics draws every plot from one source and names it, and at 1000 px no
legend sits on a plot's data area and no metrics cell is cut off.

One page and one server for the module (the tests run in file order on it)."""

import os
import re
import tempfile
from pathlib import Path

import pytest

DEFAULT_PAIR = "chessboard4d/student"
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"
LONG = 120_000  # ms: a cold server samples and solves OT before the first plots
SERVED_ENV = {"DMDVIZ_MAX_SEEDS": "600"}  # a redraw long enough to click during it
SHOTS = SHIPPED.parent / os.environ["DMDVIZ_SCREENSHOTS"] if os.environ.get("DMDVIZ_SCREENSHOTS") else \
    Path(tempfile.gettempdir()) / "dmdviz-screenshots"  # as test_app_browser: the checkout stays clean


@pytest.fixture(scope="module")
def page(browser, served):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1000, "height": 1000})
    p = context.new_page()
    p.goto(served[1])
    expect(p.locator("#explore-info")).to_contain_text("chessboard4d/student", timeout=LONG)
    yield p
    context.close()


def test_a_draw_clicked_while_leaving_the_n_box_redraws_is_drawn(page):
    """Leaving the N box starts a redraw; a Draw clicked while it runs used to be dropped
    (Gradio's default trigger mode), leaving K = 8 on screen while the box read 32."""
    from playwright.sync_api import expect

    n_box = page.get_by_label("number input for Seeds N")
    n_box.fill("450")
    n_box.press("Tab")  # the slider's release: a redraw at N = 450, K = 8 starts
    expect(page.locator("#explore-info .meta-text, #explore-info .meta-text-center").first).to_be_visible()
    k = page.get_by_label(re.compile("^K "))
    k.fill("32")
    page.get_by_role("button", name="Draw").click()  # while that redraw runs
    expect(page.locator("#explore-info")).to_contain_text("K = 32", timeout=LONG)
    expect(page.locator("#explore-info")).to_contain_text("450 seeds")


def test_an_upload_after_a_refused_one_works(page, tmp_path):
    from playwright.sync_api import expect

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    expect(page.locator("#pair-error")).to_be_visible(timeout=LONG)
    good = [str(SHIPPED / "chessboard4d" / "student" / name) for name in ("config.json", "model.safetensors")]
    page.locator("#upload input[type=file]").set_input_files(good)
    expect(page.locator("#explore-info")).to_contain_text("your upload", timeout=LONG)
    expect(page.locator("#pair-error")).to_be_hidden()


# Every plot on the page whose legend box meets its data area: [plot id, legend box, area box].
LEGEND_ON_DATA = """() => {
  const meets = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const out = [];
  document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
    const legend = gd.querySelector(".legend .bg");
    if (!legend || !legend.getBoundingClientRect().width) return;
    gd.querySelectorAll(".draglayer .nsewdrag").forEach((area) => {
      const a = legend.getBoundingClientRect(), b = area.getBoundingClientRect();
      if (meets(a, b)) out.push([gd.closest("[id]").id, [a.left, a.top, a.right, a.bottom], [b.left, b.top, b.right, b.bottom]]);
    });
  });
  return out;
}"""

# Text of the metrics table cut off: an element holding text that hides what overflows it.
CLIPPED_CELLS = """() => Array.from(document.querySelectorAll("#metrics-table td, #metrics-table td *"))
  .filter((el) => el.innerText && el.innerText.trim())
  .filter((el) => {
    const st = getComputedStyle(el);
    return (st.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1)
      || (st.overflowY !== "visible" && el.scrollHeight > el.clientHeight + 1);
  })
  .map((el) => el.innerText)"""


def test_diagnostics_name_their_models_and_no_legend_or_cell_is_hidden(page):
    from playwright.sync_api import expect

    n_box = page.get_by_label("number input for Seeds N")
    n_box.fill("60")  # a small family series
    n_box.press("Tab")
    expect(page.locator("#explore-info")).to_contain_text("60 seeds", timeout=LONG)
    page.locator("#metrics-table").scroll_into_view_if_needed()
    assert page.evaluate(CLIPPED_CELLS) == []
    page.get_by_role("tab", name="Diagnostics").click()
    expect(page.get_by_label(re.compile("^Source of every plot"))).to_have_value("mnist")
    info = page.locator("#diag-info")  # one source for every plot: the family, its verdict first
    expect(info).to_contain_text("Source: family mnist (9 students, 4 teacher snapshots)", timeout=LONG)
    expect(info).to_contain_text("Verdict (mnist/teacher-8192 → mnist/student-8192): copies")
    expect(info).not_to_contain_text("chessboard4d")  # the pair open in Explore is no source here
    for plot in ("#memorization-plot", "#boundary-plot", "#length-plot", "#dm-plot"):
        expect(page.locator(f"{plot} .gtitle, {plot} .gtitle-subtitle").filter(has_text="family mnist")).to_have_count(1)
    expect(page.locator("#boundary-plot .gtitle, #boundary-plot .gtitle-subtitle").filter(
        has_text="mnist/teacher-8192 → mnist/student-8192")).to_have_count(1)
    assert page.evaluate(LEGEND_ON_DATA) == []
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_timeout(500)
    assert page.evaluate(LEGEND_ON_DATA) == []


def test_every_tab_at_1000_px(page):
    """Each tab as a 1000-px-wide window shows it (the README's ``*-1000.png``): Diagnostics on
    the small draw above (cheap), then Explore back on the default pair and the page's N and K."""
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    busy = page.locator(".meta-text:visible, .meta-text-center:visible, .progress-text:visible")

    def shoot(tab, ready):
        page.get_by_role("tab", name=tab).click()
        if ready:
            expect(page.locator(f"{ready} .js-plotly-plot .main-svg").first).to_be_visible(timeout=LONG)
        expect(busy).to_have_count(0, timeout=LONG)  # no view still drawing (Diagnostics redraws on its tab's select)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / f"{tab.lower()}-1000.png"), full_page=True)

    page.get_by_label(re.compile("^K ")).fill("8")
    page.get_by_role("tab", name="Diagnostics").click()
    page.get_by_role("button", name="Run diagnostics").click()
    expect(page.locator("#diag-info")).to_contain_text("Source: family mnist", timeout=LONG)
    shoot("Diagnostics", "#memorization-plot")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_label("Pair (shipped or trained here)").click()
    page.get_by_role("option", name=f"{DEFAULT_PAIR} (shipped)").click()
    expect(page.locator("#explore-info")).to_contain_text(f"→ {DEFAULT_PAIR}", timeout=LONG)
    page.get_by_label("number input for Seeds N").fill("500")
    page.get_by_role("button", name="Draw").click()
    expect(page.locator("#explore-info")).to_contain_text("500 seeds from base seed 0, K = 8", timeout=LONG)
    expect(page.locator("#scale-plot .js-plotly-plot .main-svg").first).to_be_visible(timeout=LONG)
    for tab, ready in (("Explore", "#pca-plot"), ("Train", None), ("Sweep", "#sweep-plot"), ("About", None)):
        shoot(tab, ready)
