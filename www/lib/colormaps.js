// Colour maps as 256-entry RGB lookup tables, interpolated from 11 stops of matplotlib's
// perceptually uniform maps (viridis, inferno, magma; CC0) and a grey ramp.

const STOPS = {
  viridis: ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"],
  inferno: ["#000004", "#160b39", "#420a68", "#6a176e", "#932667", "#bc3754", "#dd513a", "#f37819", "#fca50a", "#f6d746", "#fcffa4"],
  magma: ["#000004", "#140e36", "#3b0f70", "#641a80", "#8c2981", "#b73779", "#de4968", "#f7705c", "#fe9f6d", "#fecf92", "#fcfdbf"],
  gray: ["#000000", "#ffffff"],
};

export const COLORMAPS = Object.keys(STOPS);

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const tables = new Map();

/** The LUT of `name`: a Uint8ClampedArray of 256 x [r, g, b]. */
export function lut(name) {
  let table = tables.get(name);
  if (table) return table;
  const stops = (STOPS[name] ?? STOPS.viridis).map(rgb);
  table = new Uint8ClampedArray(256 * 3);
  const last = stops.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * last;
    const k = Math.min(last - 1, Math.floor(t));
    const u = t - k;
    for (let ch = 0; ch < 3; ch++) table[i * 3 + ch] = Math.round(stops[k][ch] * (1 - u) + stops[k + 1][ch] * u);
  }
  tables.set(name, table);
  return table;
}

/** A CSS linear-gradient of `name`, bottom (low) to top (high). */
export function gradientCss(name) {
  const stops = STOPS[name] ?? STOPS.viridis;
  return `linear-gradient(to top, ${stops.map((c, i) => `${c} ${((i / (stops.length - 1)) * 100).toFixed(1)}%`).join(", ")})`;
}
