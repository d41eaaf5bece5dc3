package alert_test

import (
	"fmt"
	"time"

	"github.com/faultline-go/faultline/alert"
)

// Example runs Kapacitor's hysteresis example through one alert: levels
// info > 60 (resolve < 50), warning > 70 (resolve < 60) and critical > 80
// (resolve < 70), with keep_firing_for. The caller evaluates the
// conditions; the State decides.
func Example() {
	levels := []struct {
		name          string
		fire, resolve float64
	}{{"info", 60, 50}, {"warning", 70, 60}, {"critical", 80, 70}}
	rule := alert.Rule{KeepFiringFor: 90 * time.Second}

	var st alert.State
	buf := make([]alert.Transition, 0, 4) // reused: Step does not allocate
	for i, v := range []float64{61, 73, 64, 85, 62, 56, 47, 40, 30} {
		t := time.Unix(0, 0).Add(time.Duration(i) * time.Minute).UnixNano()
		o := alert.Outcome{Reset: true}
		for l := len(levels); l >= 1; l-- {
			if v > levels[l-1].fire {
				o.Level = l
				break
			}
		}
		if cur := st.Level(); cur > 0 && o.Level < cur {
			o.Reset = v < levels[cur-1].resolve
		}
		buf = st.Step(t, o, &rule, buf[:0])
		for _, tr := range buf {
			fmt.Printf("minute %d, value %v: %s %s\n", i, v, tr.Kind, levels[tr.Level-1].name)
		}
	}
	// Output:
	// minute 0, value 61: firing info
	// minute 1, value 73: firing warning
	// minute 3, value 85: firing critical
	// minute 4, value 62: firing info
	// minute 8, value 30: resolved info
}
