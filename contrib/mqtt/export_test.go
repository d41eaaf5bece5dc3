package mqtt

import paho "github.com/eclipse/paho.mqtt.golang"

// WrapPaho replaces c's paho client by wrap(it): tests make the broker's
// acknowledgements go astray with it.
func WrapPaho(c *Client, wrap func(paho.Client) paho.Client) { c.pc = wrap(c.pc) }
