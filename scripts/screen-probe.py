#!/usr/bin/env python3
"""Watches a region of the X screen for the benchmarks, reading pixels with
libX11 directly (a whole-screen screenshot takes a tenth of a second; a
region read takes milliseconds). Prints milliseconds since SINCE.

  screen-probe.py color SINCE X Y W H RRGGBB [TIMEOUT]
      waits until some pixel of the region has that colour (within a small
      tolerance), e.g. an "Installed" badge drawn on a card; SINCE is a Unix
      time (date +%s.%N).
  screen-probe.py change X Y W H COMMAND...
      reads the region, runs COMMAND, then waits until the region differs
      from what it was; timed from when COMMAND started.
"""
import ctypes
import subprocess
import sys
import time

x11 = ctypes.cdll.LoadLibrary("libX11.so.6")
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XDefaultRootWindow.restype = ctypes.c_ulong
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XGetImage.restype = ctypes.c_void_p
x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                          ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]


class XImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte)),
                ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
                ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
                ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong),
                ("obdata", ctypes.c_void_p), ("destroy_image", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p))]


ZPIXMAP = 2
ALL_PLANES = 0xFFFFFFFF
display = x11.XOpenDisplay(None)
if not display:
    sys.exit("screen-probe: no X display")
root = x11.XDefaultRootWindow(display)


def region(x, y, w, h):
    """The region's pixels as bytes (BGRX, 32 bits a pixel on Xvfb)."""
    pointer = x11.XGetImage(display, root, x, y, w, h, ALL_PLANES, ZPIXMAP)
    if not pointer:
        return None
    image = ctypes.cast(pointer, ctypes.POINTER(XImage)).contents
    data = ctypes.string_at(image.data, image.bytes_per_line * image.height)
    image.destroy_image(pointer)
    return data


def has_color(data, rgb, tolerance=6):
    r, g, b = rgb
    for i in range(0, len(data) - 3, 4):
        if abs(data[i + 2] - r) <= tolerance and abs(data[i + 1] - g) <= tolerance and abs(data[i] - b) <= tolerance:
            return True
    return False


def elapsed_ms(since):
    return round((time.time() - since) * 1000)


def main():
    mode = sys.argv[1]
    if mode == "color":
        start = float(sys.argv[2])
        x, y, w, h = (int(v) for v in sys.argv[3:7])
        rgb = bytes.fromhex(sys.argv[7])
        deadline = time.time() + (float(sys.argv[8]) if len(sys.argv) > 8 else 30)
        while time.time() < deadline:
            data = region(x, y, w, h)
            if data and has_color(data, rgb):
                print(elapsed_ms(start))
                return
            time.sleep(0.005)
        sys.exit("screen-probe: the colour did not appear")
    if mode == "change":
        x, y, w, h = (int(v) for v in sys.argv[2:6])
        before = region(x, y, w, h)
        start = time.time()
        subprocess.run(sys.argv[6:], check=True)
        deadline = start + 10
        while time.time() < deadline:
            if region(x, y, w, h) != before:
                print(elapsed_ms(start))
                return
            time.sleep(0.002)
        sys.exit("screen-probe: the region did not change")
    sys.exit(__doc__)


main()
