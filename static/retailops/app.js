/* RetailOps page glue: draws every <canvas data-chart="…json…"> with Chart.js, including those that
   HTMX swaps in later, and destroys the old chart first so a refreshed partial does not leak. */
(function () {
  function money(v) {
    var sym = document.body.dataset.currency || "";
    return sym + Number(v).toLocaleString(undefined, { minimumFractionDigits: 0, maximumFractionDigits: 2 });
  }
  function draw(root) {
    if (!window.Chart) return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec;
      try { spec = JSON.parse(canvas.dataset.chart); } catch (e) { return; }
      var old = window.Chart.getChart(canvas);
      if (old) old.destroy();
      spec.options = spec.options || {};
      spec.options.responsive = true;
      spec.options.maintainAspectRatio = false;
      spec.options.animation = false;
      // A dataset marked noTooltip (a shaded calendar day) has no figure of its own: leave it out of tooltips.
      spec.options.plugins = spec.options.plugins || {};
      spec.options.plugins.tooltip = Object.assign({
        filter: function (item) { return !item.dataset.noTooltip; }
      }, spec.options.plugins.tooltip || {});
      if (canvas.dataset.money === "1") {
        spec.options.scales = spec.options.scales || {};
        spec.options.scales.y = Object.assign({ ticks: { callback: money } }, spec.options.scales.y || {});
      }
      new window.Chart(canvas, spec);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { draw(evt.target); });
  window.RetailOps = { drawCharts: draw };
})();
