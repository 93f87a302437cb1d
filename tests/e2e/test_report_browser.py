"""The HTML report opens offline in real Chromium, its verdict first, every figure drawn."""

from playwright.sync_api import expect

from dmdviz.analysis import study
from dmdviz.checkpoint import load_checkpoint
from dmdviz.experiments.report import figures, write_report


def test_report_renders_every_figure(tiny_pair, tmp_path, page):
    st = study(load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1])), 200)
    figs = figures(st)
    path = write_report(st, tmp_path / "report.html")
    page.route("http*://**", lambda route: route.abort())  # offline: everything must be inline
    page.goto(path.resolve().as_uri())
    drawings = page.locator(".fig svg")
    expect(drawings).to_have_count(len(figs), timeout=30_000)
    for i, (title, _) in enumerate(figs):
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        box = drawings.nth(i).bounding_box()
        assert box["width"] > 600 and box["height"] > 150  # drawn at the page's width, not collapsed
    expect(page.locator(".verdict")).to_contain_text("Verdict:")
    assert page.errors == []
