#!/usr/bin/python3
"""A stand-in IP camera: GStreamer's own RTSP server (gst-rtsp-server through python3-gi)
serving a live test pattern encoded once, in the camera, as H.264 (or H.265 / MJPEG, to test
that the box refuses them), optionally behind Digest/Basic authentication.

Usage: rtsp-camera.py --port P [--path /stream] [--user U --password W] [--codec h264|h265|mjpeg]
                      [--width 640 --height 360 --fps 30 --gop 30]
Prints one line `ready <port>` on stdout when it listens, and on SIGTERM/SIGINT
`frames <n>` (the access units its encoder made, all clients together) before exiting; it
also exits when the process that started it is gone.
The media is shared: every client sees the same encoded stream, so a test can read the
camera's own SPS with a second, direct client.
"""
import argparse, os, signal, sys
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
gi.require_version('GstRtsp', '1.0')
from gi.repository import Gst, GstRtsp, GstRtspServer, GLib

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--path', default='/stream')
ap.add_argument('--user')
ap.add_argument('--password')
ap.add_argument('--codec', default='h264', choices=['h264', 'h265', 'mjpeg'])
ap.add_argument('--width', type=int, default=640)
ap.add_argument('--height', type=int, default=360)
ap.add_argument('--fps', type=int, default=30)
ap.add_argument('--gop', type=int, default=30)
ap.add_argument('--pattern', default='ball', help='videotestsrc pattern nick (a test that checks the picture uses a known one)')
a = ap.parse_args()

Gst.init(None)
src = f'videotestsrc is-live=true pattern={a.pattern} ! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1'
enc = {
    'h264': f'x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max={a.gop} bitrate=1500 ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=0',
    'h265': f'x265enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max={a.gop} ! rtph265pay name=pay0 pt=96',
    # rtpjpegpay (RFC 2435) takes 4:2:0 only: without the caps, jpegenc got another layout and the
    # payloader refused every frame ("Invalid component"), and DESCRIBE never had an answer.
    'mjpeg': 'videoconvert ! video/x-raw,format=I420 ! jpegenc name=enc ! rtpjpegpay name=pay0 pt=26',
}[a.codec]

frames = 0
def counted(pad, info):
    global frames
    frames += 1
    return Gst.PadProbeReturn.OK

class Factory(GstRtspServer.RTSPMediaFactory):
    def do_create_element(self, url):
        e = Gst.parse_launch(f'( {src} ! {enc} )')
        e.get_by_name('enc').get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, counted)
        return e

server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(str(a.port))
f = Factory()
f.set_shared(True)
# SPS/PPS only in the SDP (config-interval=0 above), as many cameras do: the box must put them in-band.
if a.user:
    tok = GstRtspServer.RTSPToken()
    tok.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, 'viewer')
    auth = GstRtspServer.RTSPAuth()
    auth.add_digest(a.user, a.password, tok)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_role('viewer')
    perms.add_permission_for_role('viewer', GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    perms.add_permission_for_role('viewer', GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    f.set_permissions(perms)
server.get_mount_points().add_factory(a.path, f)
if server.attach(None) == 0:
    print(f'cannot listen on 127.0.0.1:{a.port}', file=sys.stderr)
    sys.exit(2)

loop = GLib.MainLoop()
def bye(*_):
    try:
        print(f'frames {frames}', flush=True)
    except OSError:
        pass  # the reader is gone; exit all the same
    loop.quit()
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, bye)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, bye)
# A camera outlives no box: when the process that started it dies without a SIGTERM (kill -9,
# an abort), the camera is re-parented and exits within a second instead of streaming forever.
parent = os.getppid()
def orphaned():
    if os.getppid() != parent:
        bye()
        return False
    return True
GLib.timeout_add_seconds(1, orphaned)
print(f'ready {a.port}', flush=True)
loop.run()
