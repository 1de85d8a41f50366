# plot.gp - turn cmap-bench's CSV into SVG charts (gnuplot 5, awk).
#
#   cmap-bench --csv=results.csv
#   gnuplot -e "csv='results.csv'; outdir='docs'" bench/plot.gp
#
# For every workload group (workload, distribution, key count) in the CSV:
#   OUTDIR/throughput-GROUP.svg  Mops/s against threads, one line per
#                                backend (peers dashed; plain is one point)
#   OUTDIR/latency-GROUP.svg     p50, p99 and p99.9 (ns, log scale) per
#                                backend and thread count
#   OUTDIR/memory-GROUP.svg      bytes per entry per backend and thread count
# Each point is the median of the run's repetitions and its error bar their
# range (the *_min and *_max columns; a run of one repetition has none, and
# its bars are empty).  Columns are found by their header names, so added
# columns do not break it.

if (!exists("csv")) csv = "results.csv"
if (!exists("outdir")) outdir = "."

set datafile separator whitespace
set terminal svg size 900,560 dynamic noenhanced font "sans,11" background rgb "white"
set grid ytics lc rgb "#dddddd"
set key outside right top

# awk: map header names to column numbers; G is the group of a row.
HDR = 'NR==1{for(i=1;i<=NF;i++)h[$i]=i;next} {G=$h["workload"]":"$h["distribution"]":"$h["keys"]}'
awk(prog, g) = sprintf("awk -F, -v g='%s' '%s %s' '%s'", g, HDR, prog, csv)

groups = system(awk('!s[G]++{printf "%s ", G}', ""))
peers = system(awk('$h["peer"]=="true" && !s[$h["backend"]]++{printf "%s ", $h["backend"]}', ""))
is_peer(b) = strstrt(" ".peers." ", " ".b." ") > 0
dash(b) = is_peer(b) ? 2 : 1

# "read-mostly:uniform:1000000" -> file-name and title forms
fname(g) = system(sprintf("echo '%s' | tr ':' '-'", g))
title(g) = system(sprintf("echo '%s' | awk -F: '{printf \"%%s, %%s, %%s keys\", $1, $2, $3}'", g))

# the throughput points of one backend in one group, by thread count
# v(c): column c, else (an older CSV, or no repetitions) fallback column f
V = 'function v(c,f){return (c in h && $h[c]!="") ? $h[c] : $h[f]} '
tput(b, g) = "< ".awk(sprintf(V.'G==g && $h["backend"]=="%s"{print $h["threads"], $h["mops"], v("mops_min","mops"), v("mops_max","mops")}', b), g)." | sort -n"

do for [gi = 1:words(groups)] {
	g = word(groups, gi)
	backends = system(awk('G==g && !s[$h["backend"]]++{printf "%s ", $h["backend"]}', g))

	# ---- throughput against threads
	set output sprintf("%s/throughput-%s.svg", outdir, fname(g))
	set title sprintf("Throughput: %s (medians; bars: range over repetitions)", title(g))
	set xlabel "threads"
	set ylabel "million operations per second"
	set logscale x 2
	unset logscale y
	set yrange [0:*]
	set xtics auto
	set style data linespoints
	plot for [b in backends] tput(b, g) \
		using 1:2:3:4 with yerrorlines lw 2 pt 7 dt dash(b) \
		title (is_peer(b) ? b." (peer)" : b)

	# ---- latency percentiles per backend and thread count
	set output sprintf("%s/latency-%s.svg", outdir, fname(g))
	set title sprintf("Latency of sampled operations: %s (medians; bars: range over repetitions)", title(g))
	set xlabel ""
	set ylabel "ns (log scale)"
	unset logscale x
	set logscale y
	set yrange [*:*]
	set style data histograms
	set style histogram errorbars gap 1 lw 1
	set style fill solid 0.85 border -1
	set xtics rotate by 90 right scale 0
	lat = awk(V.'G==g && $h["p99_ns"]!=""{print $h["backend"]"/"$h["threads"]"t", $h["p50_ns"], v("p50_ns_min","p50_ns"), v("p50_ns_max","p50_ns"), $h["p99_ns"], v("p99_ns_min","p99_ns"), v("p99_ns_max","p99_ns"), $h["p999_ns"], v("p999_ns_min","p999_ns"), v("p999_ns_max","p999_ns")}', g)
	plot "< ".lat using 2:3:4:xtic(1) title "p50", \
	     "< ".lat using 5:6:7 title "p99", \
	     "< ".lat using 8:9:10 title "p99.9"

	# ---- bytes per entry per backend and thread count
	set output sprintf("%s/memory-%s.svg", outdir, fname(g))
	set title sprintf("Memory: %s (libcmap: allocator count; peers: larger of RSS and heap growth)", title(g))
	set ylabel "bytes per entry"
	unset logscale y
	set yrange [0:*]
	mem = awk(V.'G==g && $h["bytes_per_entry"]!=""{print $h["backend"]"/"$h["threads"]"t", $h["bytes_per_entry"], v("bytes_per_entry_min","bytes_per_entry"), v("bytes_per_entry_max","bytes_per_entry")}', g)
	plot "< ".mem using 2:3:4:xtic(1) title "bytes per entry" lc rgb "#4a7ab5"

	set xtics norotate
	set style data linespoints
}
set output
