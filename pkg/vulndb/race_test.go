//go:build race

package vulndb

// raceEnabled: the race detector slows JSON decoding some tenfold, so
// race runs import only the smaller archives (raceArchives).
const raceEnabled = true
