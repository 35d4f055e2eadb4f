// Which bucket width a trend asks for: the visible range spread over the plot's pixels, about
// one bucket per two pixels, rounded up to a width people read easily. A month at 800 pixels
// asks for 2-hour buckets (about 370 points), an hour for 10-second ones: the browser never
// receives more points than it can draw, whatever the zoom. Whole minutes and hours are
// answered from the rollups.

/** Bucket widths offered, in seconds (the API accepts up to 31 days). */
export const WIDTHS = [
  1, 2, 5, 10, 15, 30,
  60, 120, 300, 600, 900, 1800,
  3600, 7200, 10800, 21600, 43200,
  86400, 172800, 604800, 2678400,
];

/** Pixels per bucket the choice aims at. */
export const PIXELS_PER_BUCKET = 2;

/** The bucket width (seconds) for a range of `fromMs`..`toMs` drawn `widthPx` wide. */
export function chooseBucket(fromMs, toMs, widthPx) {
  const seconds = Math.max(1, (toMs - fromMs) / 1000);
  const buckets = Math.max(1, Math.floor(widthPx / PIXELS_PER_BUCKET));
  const wanted = seconds / buckets;
  return WIDTHS.find((w) => w >= wanted) || WIDTHS[WIDTHS.length - 1];
}

/** A width as the API writes it: 30s, 5m, 2h, 7d. */
export function bucketText(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
