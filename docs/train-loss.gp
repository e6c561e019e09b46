# SPDX-License-Identifier: MIT
# docs/train-loss.png from the per-epoch log of
#   tools/train --data ../shared/data/clean_weather.csv --target tmax_tomorrow --ordered --epochs 30 --log log.csv
# run as: gnuplot -e 'log="log.csv"' docs/train-loss.gp  (writes loss.png)
if (!exists("log")) log = "log.csv"
if (!exists("out")) out = "loss.png"
set terminal pngcairo size 640,360 font ",10" noenhanced
set output out
set datafile separator ","
set title "tools/train on clean_weather.csv (--target tmax_tomorrow --ordered --epochs 30)"
set xlabel "epoch"
set ylabel "train loss (MSE, standardised)"
set y2label "validation RMSE (°F)"
set xrange [0:30]
set yrange [0.3:1.3]
set y2range [4.5:5.6]
set ytics 0.1 nomirror
set y2tics 0.1
set grid xtics ytics lt 0 lw 1 lc "gray"
set key top right
plot log skip 1 using 1:2 with linespoints lw 2 title "train loss", \
     log skip 1 using 1:3 axes x1y2 with linespoints lw 2 title "validation RMSE"
