// Time-series charts (uPlot): devices over time and gate evidence against its threshold on a log
// scale. Shared by the dashboard (app.js) and the `sim --html` page (sim.js).
import uPlot from 'uplot';

const COLORS = ['#1f6feb', '#2da44e', '#cf222e', '#8250df', '#bf8700', '#0a7d8c', '#57606a'];

// series: [{label, values}] over xs (unix seconds or seconds since start when relTime).
// opts: {title, log, logX, threshold, marks: [{x, label}], width, height, relTime, xlabel, ylabel}
export function lineChart(container, xs, series, opts) {
  const o = opts || {};
  const width = o.width || Math.max(320, Math.min(900, container.clientWidth || 720));
  const s = [{ label: o.relTime ? 't (s)' : 'time' }];
  const data = [xs];
  series.forEach((ser, i) => {
    s.push({ label: ser.label, stroke: ser.color || COLORS[i % COLORS.length], width: 2,
      dash: ser.dash, points: { show: false } });
    data.push(ser.values);
  });
  if (o.threshold !== undefined && o.threshold > 0) {
    s.push({ label: 'threshold', stroke: '#cf222e', width: 1, dash: [6, 4], points: { show: false } });
    data.push(xs.map(() => o.threshold));
  }
  const marks = o.marks || [];
  const plugins = marks.length ? [markPlugin(marks)] : [];
  const chart = new uPlot({
    title: o.title, width, height: o.height || 240, series: s, plugins,
    scales: { x: o.logX ? { time: false, distr: 3, log: 10 } : { time: !o.relTime }, y: o.log ? { distr: 3, log: 10 } : { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{ label: o.xlabel || '' }, { label: o.ylabel || '', size: 80 }],
  }, data, container);
  return chart;
}

// Vertical lines at marks[].x with a label (a halt, a wave start), drawn on the canvas.
function markPlugin(marks) {
  return {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        for (const m of marks) {
          const x = u.valToPos(m.x, 'x', true);
          if (!Number.isFinite(x)) continue;
          ctx.strokeStyle = m.color || '#cf222e';
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.fillStyle = m.color || '#cf222e';
          ctx.font = `${12 * devicePixelRatio}px sans-serif`;
          ctx.fillText(m.label, x + 4 * devicePixelRatio, u.bbox.top + 14 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}
