package sqlstore

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the process has used so far.
// On a shared machine it says what a measurement cost, where wall time
// also says how busy the neighbours were.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy reports whether more runnable work than cores was waiting
// over the last minute, when wall-time bounds say nothing about the code.
func machineBusy() (load float64, busy bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	load, _ = strconv.ParseFloat(f[0], 64)
	return load, load > float64(runtime.NumCPU())
}
