# The charts of docs/performance.md; bench/charts.mjs sets `data` (the
# directory of its data files), `out`, `subtitle`, `peer_files` and `peer_names`.
set terminal pngcairo size 900,520 font "sans,11"
set grid
set key top left
set format y "%.0s%c"

# 1. Durable appends (fsync_on_flush) against the number of appenders.
set output out."/durable-appenders.png"
set title "Durable appends, each appender awaiting its own (".subtitle.")"
set xlabel "sequential appenders (each on its own stream)"
set ylabel "appends acknowledged / s"
set logscale x 2
set logscale y 10
set xrange [0.8:80]
plot data."/durable-evstore.dat" using 1:2 with linespoints lw 2 pt 7 title "evstore", \
     data."/durable-disk.dat" using 1:2 with lines dt 2 lw 1 title "disk: write + fdatasync loop (1 writer)", \
     for [i=1:words(peer_files)] data."/".word(peer_files, i) using 1:2 with points pt 5+i ps 1.5 title word(peer_names, i)

# 2. Buffered appends against the number of streams written to.
set output out."/streams.png"
set title "Buffered appends against the number of streams (".subtitle.")"
set xlabel "streams written round-robin"
set ylabel "appends acknowledged / s"
set logscale x 10
set logscale y 10
set xrange [0.5:5e6]
set key bottom left
plot data."/streams.dat" using 1:2 with linespoints lw 2 pt 7 title "evstore: 1 stream (a), then existing streams (b)", \
     data."/streams-k.dat" using 1:2 with points pt 9 ps 2 title "evstore: new streams of 3 events each (k)"

# 3. evstore's throughput over each peer's, per scenario.
set output out."/peers.png"
set title "evstore / peer, same scenario, same machine (".subtitle.")"
unset logscale x
unset xlabel
set ylabel "evstore / peer (log scale; 1 = as fast)"
set logscale y 10
set autoscale x
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by -30
set bmargin 7
set rmargin 8
set format y "%g"
plot data."/ratios.dat" using 0:2:xtic(1) with boxes notitle, 1 with lines dt 2 notitle
