// Package report draws what faultline's detectors saw as one self-contained
// HTML page: for each fleet periodic gap, the miss rate by phase over the
// discovered period with the detected window marked, and a phase × time
// heatmap in which the outage band appears, holds and stops; a timeline of
// the episodes; delivery over time; and a table of the affected series.
// faultline replay --report writes it to a file (inline SVG and CSS, a few
// lines of JavaScript, nothing fetched), and Live serves it as a page that
// refreshes itself.
//
// Times are engine (arrival) times, in UTC. On a page whose span crosses a
// UTC midnight, every time of day said in words (the timeline, the gaps'
// since, fired and end and the heatmap's marks of them, the affected
// series) carries its date, as "Jan 2 15:04:05"; the charts' time axes
// stay hh:mm.
//
// A Builder gathers the material as the engine runs: it is the engine's
// fault.Observer (Config.Observer), which hands it every settled phase bin
// and every source's judged minute, and a sink of its events (Emit; it
// also has the Start and Close of a pipeline.Sink). It aggregates as it
// goes into bounded structures and draws only when asked (WriteHTML, or a
// request to Live), so it costs a few additions per bin and per event when
// nobody looks. It folds the engine's bins by the period the engine
// discovered; it detects nothing itself.
//
// It must not know where samples come from or where the page goes: it
// reads the engine's observations and events and writes HTML.
//
// # Concurrency
//
// A Builder is safe for concurrent use: the engines of several shards may
// call it at once, and their bins and minutes for the same time are added
// up (a source's lag over shards is the fresh-weighted mean of the shards'
// medians).
//
// # Bounds
//
// Everything the Builder keeps is bounded, whatever the input's length or
// width; what does not fit is counted and the page says so:
//
//   - Phase bins (0.25 s): the last Options.History of engine time (by
//     default 6 h, 24 bytes a bin: 2 MiB). A bin older than that when it
//     arrives is dropped. A fleet gap's figures are folded from these bins
//     when drawn; a resolved gap's are kept once its bins have all arrived
//     (at most 125 KiB each), so they outlive the history. A gap longer than
//     the history is drawn over the part still held.
//   - Delivery minutes: the last Options.DeliveryHistory (by default 24 h),
//     with the ingest lag of the first Options.MaxSources sources (by
//     default 8); the others are drawn as one line, their largest lag.
//   - Fleet gap figures: Options.MaxGaps (by default 16); further gaps
//     are in the timeline only. A heatmap has at most 360 columns (each
//     one period or several) and 240 rows (each one bin or several, so
//     that a cell usually expects 16 slots or more); a miss-rate chart at
//     most 1,200 points.
//   - Timeline rows: Options.MaxRows (by default 500). A fleet-wide or
//     per-source episode is one row; per-series episodes are collapsed
//     into one row per kind, rule and explaining fleet gap, with a count,
//     listing the first Options.MaxListed (by default 100) of them, and
//     40 × MaxListed over all rows.
//     Episodes are followed (their later transitions matched) up to
//     Options.MaxEpisodes (by default 65,536); events of further ones are
//     counted only.
//   - Affected series: Options.MaxSeries rows (by default 1,000); further
//     series are counted.
//   - Text: a label set, a summary or a source's name is kept to its first
//     256 bytes, cut with "…".
//
// With the defaults, a page stays under 5 MiB whatever the input.
package report
