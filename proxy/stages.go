package proxy

// DefaultStages is the request route, in the order Kamailio's stock
// configuration uses too: validate, route in-dialog requests, refuse to
// relay for strangers, authenticate, answer what is for the server
// itself, find targets, relay.
func DefaultStages() []Stage {
	return []Stage{
		sanityStage{},
		maxForwardsStage{},
		proxyRequireStage{},
		loopStage{},
		cancelStage{},
		routeStage{},
		relayCheckStage{},
		authStage{},
		localStage{},
		locationStage{},
		relayStage{},
	}
}
