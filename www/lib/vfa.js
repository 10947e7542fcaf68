// The acquisition of a variable-flip-angle series as the user types it: one flip angle per
// volume, in degrees, and the repetition time in ms.

/**
 * { flipDeg, trMs } from the text of the two fields, for a series of `volumes` volumes.
 * Throws an Error whose message says what to fix.
 */
export function parseVfa(flipsText, trText, volumes) {
  const parts = flipsText.split(/[\s,;]+/).filter(Boolean);
  if (!parts.length) throw new Error(`enter ${volumes} flip angles in degrees, separated by commas`);
  const flipDeg = parts.map(Number);
  const bad = parts.find((_, i) => !(flipDeg[i] > 0 && flipDeg[i] < 180));
  if (bad !== undefined) throw new Error(`flip angle "${bad}" is not a number of degrees between 0 and 180`);
  if (flipDeg.length !== volumes) {
    throw new Error(`${flipDeg.length} flip angles for ${volumes} volumes: enter one per volume, in their order`);
  }
  if (new Set(flipDeg).size < 2) throw new Error("the fit needs at least two different flip angles");
  const trMs = Number(trText);
  if (!(String(trText).trim() && trMs > 0 && Number.isFinite(trMs))) throw new Error(`TR must be a positive number of milliseconds, not "${trText}"`);
  return { flipDeg, trMs };
}
