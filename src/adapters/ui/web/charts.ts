import uPlot from 'uplot';
import { bytes, duration, h } from './dom.js';

/** A time series chart (uPlot): x in ISO instants, one y series, values formatted by `format`. */
export function timeChart(title: string, points: { at: string; value: number }[], format: (v: number) => string, color = '#2458b3'): HTMLElement {
  const box = h('figure', { class: 'chart', 'data-chart': title });
  if (points.length === 0) {
    box.append(h('figcaption', {}, `${title}: no data yet`));
    return box;
  }
  const xs = points.map((p) => Date.parse(p.at) / 1000);
  const ys = points.map((p) => p.value);
  const opts: uPlot.Options = {
    title,
    width: 460,
    height: 220,
    scales: { x: { time: true } },
    series: [{}, { label: title, stroke: color, width: 2, points: { show: true, size: 6 }, value: (_u, v) => (v === null ? '-' : format(v)) }],
    axes: [{}, { values: (_u, splits) => splits.map((v) => format(v)), size: 70 }],
  };
  // uPlot measures its target: build it once the figure is in the page.
  queueMicrotask(() => new uPlot(opts, [xs, ys], box));
  return box;
}

export const sizeChart = (points: { at: string; value: number }[], title = 'Stored size') => timeChart(title, points, bytes);
export const durationChart = (points: { at: string; value: number }[]) => timeChart('Duration', points, duration, '#1d7a3a');
