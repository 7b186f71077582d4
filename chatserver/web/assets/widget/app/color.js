// @ts-check
/** The accent colour and, for a contrast of 4.5:1, `--ink` (text on it) and `--accent-text`. */

/** @param {string} hex @returns {number[]} */
function rgb(hex) {
  let h = hex.replace("#", "");
  if (h.length === 3) h = h.replace(/./g, "$&$&");
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
}

/** @param {number[]} c */
function luminance(c) {
  const [r, g, b] = c.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** @param {number[]} a @param {number[]} b */
export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/** @param {number[]} c */
const hex = (c) => "#" + c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");

/** @param {string} accent */
export function palette(accent) {
  const base = /^#([0-9a-f]{3}){1,2}$/i.test(accent) ? rgb(accent) : rgb("#2b4fd8");
  const white = [255, 255, 255];
  const ink = contrast(base, white) >= Math.min(4.5, contrast(base, [17, 17, 17])) ? "#ffffff" : "#111111";
  // Darken towards black until it reads on white (and on the light grey transcript).
  let text = base;
  for (let i = 0; i < 20 && contrast(text, [244, 246, 250]) < 4.5; i += 1) text = text.map((v) => v * 0.88);
  return { accent: hex(base), ink, text: hex(text) };
}
