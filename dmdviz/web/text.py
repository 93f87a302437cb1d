"""The app's prose: the About tab, the metrics and seed tables (each metric's meaning comes
from ``analysis.verdict``, which the report reads too), and the page script (no gradio here)."""

from dmdviz.analysis.verdict import METRICS, shown  # the meanings (and figures) the report and the API show too


def seed_table(index: int, views: dict, target, k: int, show_coords: bool) -> str:
    """Markdown: each view's distance to the target Φ_K(z), and its first coordinates (vectors)."""
    lines = [f"**Seed {index}**", "",
             "| view | ‖· − Φ_%d(z)‖ |%s" % (k, " first coordinates |" if show_coords else ""),
             "|---|---|%s" % ("---|" if show_coords else "")]
    for name, v in views.items():
        coords = " " + ", ".join(shown(c) for c in v.flatten()[:4].tolist()) + " |" if show_coords else ""
        lines.append(f"| {name} | {shown(float((v - target).norm()))} |{coords}")
    return "\n".join(lines)


def metrics_rows(metrics: dict, intervals: dict, start_known: bool = True) -> list[list]:
    """[metric, student value (with its bootstrap interval where it has one), start Φ_1, meaning],
    every number to three significant figures. ``start_known``: False for a student that did
    not start from the teacher (a random initialisation), whose start column reads "n/a"."""
    def value(key):
        return shown(metrics[key], intervals.get(key))

    def start(key):
        return "" if f"{key}_init" not in metrics else shown(metrics[f"{key}_init"]) if start_known else "n/a"

    return [[f"{label} ({key})", value(key), start(key), meaning] for key, (label, meaning) in METRICS.items()
            if key in metrics]


def _three(value: float) -> float:
    return float(f"{value:.3g}")


def compare_row(name: str, a: float, b: float, start: float | None) -> list:
    """[metric, A, B, B − A, start Φ_1] of the comparison, as numbers to three significant
    figures; B − A is the difference of the values shown, so the row reads consistently."""
    a, b = _three(a), _three(b)
    return [name, a, b, _three(b - a), "" if start is None else _three(start)]


ABOUT = """
## What the paper claims

*Why Are DMD Students Lazy? Understanding the Copying Behavior in Few-Step Distillation*
(arXiv 2606.02237). Distribution Matching Distillation only matches distributions, so a
one-step student G is free to send a noise z anywhere on the data. In low dimension
(chessboard-4D, moons) it uses that freedom: it **remaps** noise to data. In high
dimension (MNIST, conditional sets) it **copies**: G(z) lands next to the teacher's own
multi-step sample Φ_K(z) of the same z. The paper shows copying is not caused by the GAN
term nor by a memorising teacher, grows with the teacher's training length, is strongest
for samples near the data's boundary, and proposes that it comes from the student's
limited geometric freedom in high dimension.

Time convention everywhere: t = 0 is noise, t = 1 is data, x_t = (1 - t) z + t x;
Φ_K(z) is the teacher's K-step Euler sample, so Φ_1(z) is the student's starting point.

## How to read each plot

**Verdict.** The first line of Explore, of the comparison, of Diagnostics and of the HTML
report says what the numbers below it say: *copies* (most seeds keep their teacher's own
target: A_OT at least ½), *partly copies* (A_OT clearly above chance, at least 10 %),
*remaps at this resolution, copies at coarse scale* (A_OT near chance, but cut into fewer
cells the targets find G in its own target's cell well above chance: the student lands near
its target, farther than the targets' spacing) or *remaps* (chance at every scale), with the
numbers that decide it.

**Samples (panels or grid).** Low-dim sets: four panels z, Φ_8(z), Φ_1(z), G(z) on one
shared scale (Φ_1, the one-step mean, is the small cloud at the centre), coloured by the
angle of z; if colours keep their place from Φ_8 to G the student copies, if they are
reshuffled it remaps. Images: one column per seed, rows Φ_1, Φ_8, Φ_32, G.

**PCA triplets.** Φ_8, Φ_1 and G of every seed projected on the two leading principal
components of Φ_8, each seed's three points joined. Short G-to-Φ_8 segments mean copying.

**Cost heatmap with OT assignment.** C_ij = ||Φ_K(z_i) - G(z_j)||² for the first seeds; the
markers are the optimal assignment. Markers on the diagonal: the student kept the teacher's
pairing (A_OT high). Scattered markers: it remapped.

**d_init vs d_student.** One point per seed: how far Φ_1 was from the target Φ_K (x) and how
far G is (y). Points below the diagonal moved towards their own target (copying).

**Metrics table.** Every pairing metric for G and, as the baseline, for Φ_1, to three
significant figures, with its 95 % bootstrap interval over seeds and its meaning.

**Compare two students.** A second student B of the same teacher (say GAN on vs off, or a
random initialisation) on the very same seeds: samples side by side, both students' PCA
triplets on one basis (the principal axes of Φ_K) with shared axes, both d_init vs d_student
clouds in one frame, and every metric for A, for B and their difference. Students of another
teacher are refused: the comparison is only meaningful against one target Φ_K.

**Per-seed drill-down.** Type a seed index, or click a seed's point in any plot above. One
seed's z, Φ_1, Φ_8, Φ_32 and G, and the teacher's Euler trajectory from z to Φ_K(z) with the
student's single jump.

**Memorization histogram.** r = ||s - n_2|| / ||s - n_1|| for the teacher's samples, n_1
and n_2 the nearest training points: r near 1 is not memorised; r > 3 would be.

**Boundary analysis.** D(z), the mean distance of Φ_K(z) to the training set, against
ρ(z) = d_student / d_init: points below the line ρ = 1 were pulled towards their own target.

**Which model Diagnostics shows.** One source for all four plots, chosen in the tab: a
family of students (the MNIST teacher snapshots by default), whose longest-trained
teacher's plain student gives the memorization histogram and the boundary analysis and
whose every student gives the teacher-length series and the DM-loss curves; or the pair
open in Explore (no teacher-length series: one pair has one teacher). Every title and the
caption above the plots name the source, under the verdict of its pair.

**Teacher-length series.** Copying metrics of students distilled from teachers trained for
more and more iterations: the paper finds more copying for longer-trained teachers.

**DM-loss curves.** The distribution-matching loss over distillation, one curve per
student of a family: the paper sees it rise, then fall.

**Train.** A teacher, then its student, trained as a background job: the loss curves and the
copying meter (A_OT and ρ on a fixed probe set) update live; the job keeps running if the
tab closes, can be cancelled, and resumes from its last saved state.
"""

# Run once on page load (``demo.launch(js=...)``). Every per-seed point in the Explore plots
# carries its seed index as ``customdata``; a click on one writes that index into the seed
# box and presses "Show seed", so the drill-down goes through the same event as typing it.
PICK_SEED_JS = """
() => {
  const PLOTS = ["#samples-plot", "#pca-plot", "#heatmap-plot", "#scatter-plot"]
    .map((id) => id + " .js-plotly-plot").join(", ");
  const pick = (ev) => {
    const point = ((ev && ev.points) || []).find((p) => Number.isInteger(p.customdata));
    const box = document.querySelector("#seed-index input");
    const button = document.querySelector("#show-seed");
    if (!point || !box || !button) return;
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    setValue.call(box, String(point.customdata));
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => button.click(), 50);
  };
  const hook = () => document.querySelectorAll(PLOTS).forEach((gd) => {
    if (gd.on && !gd.dataset.pickSeed) {
      gd.dataset.pickSeed = "1";
      gd.on("plotly_click", pick);
    }
  });
  new MutationObserver(hook).observe(document.body, { childList: true, subtree: true });
  hook();
}
"""

# The first paint (``plots.static``): a plot slot holds the static drawing of its first figure
# and the interactive plot; until Plotly has drawn (an SVG ``.main-svg`` inside the slot) the
# plot sits hidden under the drawing at the slot's width, so it lays itself out as it would;
# then the drawing goes and the plot takes its place.
FIRST_PAINT_CSS = """
.first-paint { position: relative; }
.first-paint:not(:has(.main-svg)) > .first-paint-plot { position: absolute !important; inset: 0; visibility: hidden; }
.first-paint:has(.main-svg) > .first-paint-svg { display: none !important; }
"""
