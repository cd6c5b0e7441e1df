"""hksweep analysis: turns results.h5 files into the figures and tables of the
research. Needs only numpy, h5py and matplotlib (Debian's python3-* packages).

    /usr/bin/python3 -m analysis report RESULTS.h5 --out DIR
"""
