package scenario

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"iter"
	"math"
	"strconv"
	"time"

	"github.com/faultline-go/faultline/stream"
)

// Origin is time 0 of every scenario: 2026-01-01T00:00:00Z in Unix
// nanoseconds. It is a multiple of every period that divides a day, so
// windows aligned to the Unix epoch keep their stated phase relative to it.
const Origin int64 = 1_767_225_600 * int64(time.Second)

// Salt is the second PCG seed word: Generate seeds its PRNG with
// rand.NewPCG(seed, Salt). It spells "faultlin" in ASCII.
const Salt uint64 = 0x6661756c746c696e

// Metric is the sample name of every series; in line protocol it is the
// measurement, with the single field "value".
const Metric = "check_up"

// CheckLabel is the name of the one label of every series; its value is "c"
// followed by the series index in at least six digits ("c000042").
const CheckLabel = "check"

// Value is the value of every sample.
const Value = 1.0

// Layout of Delivery.ref.
const (
	copyBits    = 4
	replayedBit = 1 << copyBits
	seriesShift = copyBits + 1
)

// Delivery is one copy of one sample as received by the collector: 16
// bytes. Use its methods; the fields are packed.
type Delivery struct {
	arrival int64  // Unix ns
	lag     int32  // arrival − sample time, in µs
	ref     uint32 // series<<5 | replayed<<4 | copy
}

// Arrival returns the arrival time in Unix nanoseconds.
func (d Delivery) Arrival() int64 { return d.arrival }

// Time returns the sample time (the source's timestamp) in Unix nanoseconds.
func (d Delivery) Time() int64 { return d.arrival - int64(d.lag)*int64(time.Microsecond) }

// Series returns the index of the delivery's series in Dataset.Series.
func (d Delivery) Series() int { return int(d.ref >> seriesShift) }

// Copy returns which copy of its sample this is, 0…Copies−1.
func (d Delivery) Copy() int { return int(d.ref & (1<<copyBits - 1)) }

// Replayed reports whether this copy was dropped by the fault and
// re-delivered Replay later, or held in a backlog and delivered in its
// flood (ModeBacklog).
func (d Delivery) Replayed() bool { return d.ref&replayedBit != 0 }

// compareDeliveries orders by (arrival, series, sample time, copy).
func compareDeliveries(a, b Delivery) int {
	switch {
	case a.arrival < b.arrival:
		return -1
	case a.arrival > b.arrival:
		return 1
	}
	sa, sb := a.ref>>seriesShift, b.ref>>seriesShift
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	// Equal arrivals: the larger lag is the earlier sample time.
	switch {
	case a.lag > b.lag:
		return -1
	case a.lag < b.lag:
		return 1
	}
	ca, cb := a.ref&(1<<copyBits-1), b.ref&(1<<copyBits-1)
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

// Series is one check: its identity, its drawn parameters and its ground
// truth.
type Series struct {
	// Labels is {check="c000042"}; shared by every Sample of the series, do
	// not modify.
	Labels stream.Labels
	// ID is stream.Hash(Metric, Labels).
	ID stream.SeriesID
	// Every is Δ.
	Every time.Duration
	// Offset is φ, the nominal send time of sample 0 relative to Origin
	// (rounded to ns; the generator uses the unrounded value).
	Offset time.Duration
	// Skew is the source-clock offset added to send times to make sample
	// times (rounded to ns).
	Skew time.Duration
	// DriftPPM is the series' drift: sample k is nominally sent at
	// φ + kΔ(1 + DriftPPM·10⁻⁶).
	DriftPPM float64
	// ClockDriftPPM is the rate error of the series' source clock: its
	// timestamps are send + Skew + ClockDriftPPM·10⁻⁶·send (send from
	// Origin); 0 unless Spec.ClockDriftPPM is set.
	ClockDriftPPM float64
	// Dead reports that the series stops for good at Truth.Onset.
	Dead bool
	// Slots is the number of lattice slots k with φ + kΔ(1+drift) < horizon:
	// the samples the series would send without faults.
	Slots int32
	// Sent is the number of slots whose sample was sent (Slots minus those
	// suppressed because the series is dead), including lost ones.
	Sent int32
	// Lost is the number of samples lost for good to the random loss p_r.
	Lost int32
	// Dropped is the number of samples dropped in real time: all copies
	// dropped by the fault, so the slot is empty at its expected arrival.
	Dropped int32
	// Replayed is how many of the Dropped samples were re-delivered later.
	Replayed int32
	// DroppedCopies counts every copy dropped by the fault, including
	// copies of samples that another copy delivered on time.
	DroppedCopies int32
	// Windows is the number of distinct outage windows in which the series
	// had a real-time drop.
	Windows int32
	// Affected reports, for a periodic fault, Δ < P and Dropped ≥ 2: the
	// series has a per-series periodic gap to detect.
	Affected bool
	// Core reports Affected and a real-time drop in at least half of the
	// windows (2·Windows ≥ len(Truth.Windows)).
	Core bool
}

// Window is one outage window, in Unix nanoseconds: copies arriving in
// [Start, End) are dropped.
type Window struct {
	Start, End int64
	// Dropped counts samples dropped in real time whose copy 0 was due in
	// this window; DroppedCopies counts every copy dropped in it.
	Dropped, DroppedCopies int32
}

// Drop is one sample dropped in real time by the fault (never a random
// loss).
type Drop struct {
	// Series is the series index, Slot the sample's index k in its lattice.
	Series, Slot int32
	// Window is the index in Truth.Windows of the window copy 0 was
	// dropped in, or −1 for sample-level faults (C02, C05).
	Window int32
	// Replayed reports that the copies were re-delivered Replay later (or,
	// in ModeBacklog, in the flood after the window).
	Replayed bool
	// Time is the sample time; Arrival is the arrival copy 0 would have had
	// (Unix ns).
	Time, Arrival int64
}

// Truth is the ground truth of a dataset.
type Truth struct {
	// Mode is the injected fault.
	Mode Mode
	// Periodic reports that the dataset holds a true periodic fault
	// (ModePeriodic with at least one window): the only case in which a
	// periodic-gap alarm can be a true positive.
	Periodic bool
	// DeliveryLoss reports that the dataset holds a periodic loss of
	// deliveries without loss of data (ModeCopyLoss with at least one
	// window): the only case in which a periodic_delivery_loss alarm can be
	// a true positive.
	DeliveryLoss bool
	// Period, Width and Phase copy the spec's P, w and phase (phase from the
	// Unix epoch).
	Period, Width, Phase time.Duration
	// Onset and End bound the incident in Unix ns, [Onset, End), End clipped
	// to the horizon. Dead series stop at Onset.
	Onset, End int64
	// Windows lists the outage windows in time order (ModePeriodic,
	// ModeCopyLoss, ModeAperiodic and ModeBacklog only).
	Windows []Window
	// Drops lists every sample dropped in real time, ordered by (series,
	// slot).
	Drops []Drop

	// Slots, Sent, Lost, Dropped, Replayed and DroppedCopies sum the
	// per-series counts of the same names.
	Slots, Sent, Lost, Dropped, Replayed, DroppedCopies int
	// ReplayedCopies is the number of replayed deliveries; Deliveries the
	// number of deliveries in all.
	ReplayedCopies, Deliveries int
	// FleetSeries is the number of series with at least one real-time drop
	// (~250 in B01); Affected, Core and Dead count the series so flagged.
	FleetSeries, Affected, Core, Dead int
	// CopySeries is the number of series with at least one dropped copy
	// (FleetSeries and those that lost only some copies of a sample).
	CopySeries int
}

// LatencyPeriods returns how many periods after the first window's start
// the instant at (Unix ns) is: the detection latency of an alarm raised at
// at. It returns NaN when there is no window.
func (t *Truth) LatencyPeriods(at int64) float64 {
	if len(t.Windows) == 0 || t.Period <= 0 {
		return math.NaN()
	}
	return float64(at-t.Windows[0].Start) / float64(t.Period)
}

// Dataset is a generated scenario: deliveries sorted by (arrival, series,
// sample time, copy), the series and the ground truth. It is immutable and
// safe for concurrent readers.
type Dataset struct {
	// Spec and Seed are the generator's inputs.
	Spec Spec
	Seed uint64
	// Series holds every series, indexed by Delivery.Series.
	Series []Series
	// Truth is the ground truth.
	Truth Truth

	deliveries []Delivery
}

// Len returns the number of deliveries.
func (ds *Dataset) Len() int { return len(ds.deliveries) }

// At returns delivery i, 0 ≤ i < Len.
func (ds *Dataset) At(i int) Delivery { return ds.deliveries[i] }

// Deliveries returns all deliveries in order. The slice is the dataset's
// own storage: do not modify it.
func (ds *Dataset) Deliveries() []Delivery { return ds.deliveries }

// Sample materialises delivery i as a stream.Sample. Its Labels are shared
// with the series (do not modify); nothing is allocated.
func (ds *Dataset) Sample(i int) stream.Sample {
	return ds.sample(ds.deliveries[i])
}

func (ds *Dataset) sample(d Delivery) stream.Sample {
	s := &ds.Series[d.Series()]
	return stream.Sample{
		Name:    Metric,
		Labels:  s.Labels,
		Series:  s.ID,
		Time:    d.Time(),
		Value:   Value,
		Arrival: d.arrival,
	}
}

// Samples yields every delivery as a stream.Sample, in order.
func (ds *Dataset) Samples() iter.Seq[stream.Sample] {
	return func(yield func(stream.Sample) bool) {
		for _, d := range ds.deliveries {
			if !yield(ds.sample(d)) {
				return
			}
		}
	}
}

// Batches yields the deliveries in order as batches of up to size samples
// (size < 1 means 1). The batch slice is reused: it is valid only until the
// next iteration.
func (ds *Dataset) Batches(size int) iter.Seq[[]stream.Sample] {
	size = max(size, 1)
	return func(yield func([]stream.Sample) bool) {
		buf := make([]stream.Sample, 0, min(size, len(ds.deliveries)))
		for _, d := range ds.deliveries {
			buf = append(buf, ds.sample(d))
			if len(buf) == size {
				if !yield(buf) {
					return
				}
				buf = buf[:0]
			}
		}
		if len(buf) > 0 {
			yield(buf)
		}
	}
}

// WriteCapture writes the dataset in faultline's capture format (replay
// --capture): a few "#" comment lines naming the scenario, then one line per
// delivery, in order,
//
//	<arrival_unix_ns> check_up,check=c000042 value=1 <sample_time_unix_ns>
func (ds *Dataset) WriteCapture(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	s := &ds.Spec
	hdr := []byte("# faultline bench scenario ")
	if s.ID != "" {
		hdr = append(hdr, s.ID...)
		hdr = append(hdr, ' ')
	}
	if s.Name != "" {
		hdr = append(hdr, s.Name...)
		hdr = append(hdr, ' ')
	}
	hdr = append(hdr, "mode="...)
	hdr = append(hdr, s.Mode.String()...)
	hdr = append(hdr, " seed="...)
	hdr = strconv.AppendUint(hdr, ds.Seed, 10)
	hdr = append(hdr, " series="...)
	hdr = strconv.AppendInt(hdr, int64(len(ds.Series)), 10)
	hdr = append(hdr, " deliveries="...)
	hdr = strconv.AppendInt(hdr, int64(len(ds.deliveries)), 10)
	hdr = append(hdr, "\n# origin="...)
	hdr = strconv.AppendInt(hdr, Origin, 10)
	hdr = append(hdr, " horizon="...)
	hdr = append(hdr, s.Horizon.String()...)
	hdr = append(hdr, " digest="...)
	hdr = append(hdr, ds.Digest()...)
	hdr = append(hdr, '\n')
	if _, err := bw.Write(hdr); err != nil {
		return err
	}

	prefix := make([][]byte, len(ds.Series))
	for i := range ds.Series {
		p := append([]byte(nil), Metric...)
		for _, l := range ds.Series[i].Labels {
			p = append(p, ',')
			p = append(p, l.Name...)
			p = append(p, '=')
			p = append(p, l.Value...)
		}
		p = append(p, " value=1 "...)
		prefix[i] = p
	}
	line := make([]byte, 0, 128)
	for _, d := range ds.deliveries {
		line = strconv.AppendInt(line[:0], d.arrival, 10)
		line = append(line, ' ')
		line = append(line, prefix[d.Series()]...)
		line = strconv.AppendInt(line, d.Time(), 10)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Digest returns the hex SHA-256 of every delivery in order (arrival,
// sample time, series index, copy, replayed; little-endian): two datasets
// with the same digest hold the same deliveries.
func (ds *Dataset) Digest() string {
	h := sha256.New()
	buf := make([]byte, 0, 22*1024)
	for i, d := range ds.deliveries {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(d.arrival))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(d.Time()))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(d.Series()))
		buf = append(buf, byte(d.Copy()))
		if d.Replayed() {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		if len(buf) >= 1<<14 || i == len(ds.deliveries)-1 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// StorageBytes returns the bytes the dataset holds for its deliveries
// (16 per delivery); the per-series data is a few hundred bytes per series
// on top.
func (ds *Dataset) StorageBytes() int64 {
	return int64(cap(ds.deliveries)) * 16
}
