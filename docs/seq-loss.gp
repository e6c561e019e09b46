# SPDX-License-Identifier: MIT
# docs/rnn-loss.png and docs/gru-loss.png from the per-epoch log of
#   examples/rnn --log rnn.csv      (or examples/gru --log gru.csv)
# run as: gnuplot -e 'log="rnn.csv"; net="rnn"' docs/seq-loss.gp  (writes rnn-loss.png)
if (!exists("log")) log = "rnn.csv"
if (!exists("net")) net = "rnn"
if (!exists("out")) out = net . "-loss.png"
set terminal pngcairo size 640,360 font ",10" noenhanced
set output out
set datafile separator ","
set title "examples/" . net . " on clean_weather.csv (7-day windows, 32 hidden, 30 epochs)"
set xlabel "epoch"
set ylabel "train loss (MSE, standardised)"
set y2label "validation MSE (°F²)"
set xrange [0:30]
set yrange [0.27:0.40]
set y2range [19.5:22.5]
set ytics 0.02 nomirror
set y2tics 0.5
set grid xtics ytics lt 0 lw 1 lc "gray"
set key top right
plot log skip 1 using 1:2 with linespoints lw 2 title "train loss", \
     log skip 1 using 1:3 axes x1y2 with linespoints lw 2 title "validation MSE"
