package mqtt_test

import (
	"fmt"

	"github.com/faultline-go/faultline/contrib/mqtt"
)

// A template names labels after a topic's levels: here Kotori's
// <realm>/<network>/<gateway>/<node>/data.json.
func ExampleTemplate() {
	tmpl, err := mqtt.ParseTemplate("{realm}/{network}/{gateway}/{node}/data.json")
	if err != nil {
		panic(err)
	}
	labels, err := tmpl.AppendLabels(nil, "hiveeyes/testdrive/area-42/node-1/data.json")
	fmt.Println(labels, err)
	_, err = tmpl.AppendLabels(nil, "hiveeyes/testdrive/area-42/node-1/status")
	fmt.Println(err)
	// Output:
	// {realm="hiveeyes", network="testdrive", gateway="area-42", node="node-1"} <nil>
	// topic "hiveeyes/testdrive/area-42/node-1/status": level 5 is "status", template "{realm}/{network}/{gateway}/{node}/data.json" wants "data.json"
}
