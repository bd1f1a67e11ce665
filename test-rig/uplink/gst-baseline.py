#!/usr/bin/python3
"""The stock-GStreamer uplink the box's is measured against (issue #15, shared reference
rtp-resilience.md): the same pre-encoded H.264 stream, paced at its frame rate like loss-run.ts
does it, sent by GStreamer's own parts and received by GStreamer's own parts through the same
lossy link.

  sender:   appsrc ! rtph264pay (mtu 1200, ssrc 0) ! rtpbin
              aux sender rtprtxsend (RFC 4588, 1 s history), fec encoder rtpst2022-1-fecenc
  receiver: rtpbin (AVPF, do-retransmission, latency L) with aux receiver rtprtxreceive,
              fec decoder rtpst2022-1-fecdec, and the tuning the reference page found to matter:
              the receiving session's rtcp-min-interval low and its RTCP bandwidth high (else
              the RFC 4585 early-feedback rules hold NACKs back until they expire), explicit
              jitterbuffer rtx timers (the automatic ones sent ~1.2 NACKs per lost packet).

Ports follow the box's uplink block (edge/config/uplink.ts): RTP (and RTX, SSRC-multiplexed) at
base+0, RTCP at base+1, column FEC at base+2, row FEC at base+4. RTCP is symmetric: each side
sends from the socket it receives on, as the lossy link expects.

What limits it, read off GST_DEBUG=rtpsession:5 at 10 % loss (GStreamer 1.22): with
rtcp-min-interval 20 ms and rtcp-rr-bandwidth 1 Mb/s alone, three NACK requests in four were "not
sent early, sending with next regular RTCP", the regular RTCP went out about every 50 ms, and
waiting NACKs expired ("Removing N expired NACKS"); setting the session bandwidth and RTCP share
high as well (below) let more go early. Still, rtprtxsend sees about one request per lost packet:
a retransmission that is itself lost is seldom asked for again in time.

GStreamer is driven from Python (Debian's python3-gi with the GStreamer typelibs) because rtpbin's
aux sender/receiver exist only behind signals that gst-launch cannot answer. Nothing of the box is
in this process.

Output (--out, JSON): the media packets as the payloader made them ([seq, rtp ts, ms, bytes]), the
packets the receiving rtpbin handed on ([seq, ms]), the bytes every sink put on the wire, and the
elements' own counters. ms are CLOCK_MONOTONIC milliseconds, one clock for both sides. loss-run.ts
judges the result with the same code as the box's run.
"""
import argparse
import json
import sys
import threading
import time

import gi

gi.require_version('Gst', '1.0')
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib, Gst  # noqa: E402

PT_H264, PT_RTX, PT_FEC = 96, 97, 98


def now_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


def read_access_units(path):
    """Access units split at each AUD start code (x264enc aud=true), with whether each is an IDR."""
    data = open(path, 'rb').read()
    starts = []
    i = data.find(b'\x00\x00\x01')
    while i >= 0:
        nal = i + 3
        if nal < len(data) and data[nal] & 0x1f == 9:
            starts.append(i - 1 if i > 0 and data[i - 1] == 0 else i)
        i = data.find(b'\x00\x00\x01', nal)
    aus = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(data)
        au = data[s:e]
        key = b'\x00\x00\x01\x65' in au or b'\x00\x00\x01\x25' in au or b'\x00\x00\x01\x45' in au
        aus.append((au, key))
    return aus


# The box's uplink sockets have 4 MiB buffers (a 1080p IDR is ~100 packets at once): the same here.
SOCKET_BUFFER = 4 << 20


def udp_socket(port):
    s = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.DATAGRAM, Gio.SocketProtocol.UDP)
    s.bind(Gio.InetSocketAddress.new_from_string('127.0.0.1', port), True)
    for opt in (7, 8):  # SO_SNDBUF, SO_RCVBUF (SOL_SOCKET 1)
        s.set_option(1, opt, SOCKET_BUFFER)
    return s


def make(factory, **props):
    e = Gst.ElementFactory.make(factory, None)
    if e is None:
        raise RuntimeError(f'GStreamer element {factory} is missing (Debian gstreamer1.0-plugins-good/-bad)')
    for k, v in props.items():
        e.set_property(k.replace('_', '-'), v)
    return e


def fec_description(fec):
    cols, rows, row_fec = fec
    # The 2022-1 names are crossed: `rows` is the number of rows a column packet protects.
    return (f'rtpst2022-1-fecenc rows={rows} columns={cols} pt={PT_FEC} '
            f'enable-column-fec=true enable-row-fec={"true" if row_fec else "false"}')


PROBE = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST


def buffers(info):
    """The buffers of a probe on PROBE: payloaders and rtpbin push lists."""
    if info.type & Gst.PadProbeType.BUFFER:
        return [info.get_buffer()]
    lst = info.get_buffer_list()
    return [lst.get(i) for i in range(lst.length())]


class Wire:
    """Bytes leaving through one sink (RTP+RTX, RTCP, FEC)."""

    def __init__(self):
        self.bytes = 0
        self.packets = 0

    def probe(self, pad, info):
        for buf in buffers(info):
            self.bytes += buf.get_size()
            self.packets += 1
        return Gst.PadProbeReturn.OK


def build_sender(a, wire, sent, errors):
    p = Gst.Pipeline.new('sender')
    src = make('appsrc', is_live=True, do_timestamp=True, format=Gst.Format.TIME,
               caps=Gst.Caps.from_string(f'video/x-h264,stream-format=byte-stream,alignment=au,framerate={a.fps}/1'))
    parse = make('h264parse')
    pay = make('rtph264pay', mtu=1200, pt=PT_H264, ssrc=0, config_interval=0, aggregate_mode='zero-latency')
    rtpbin = make('rtpbin', rtp_profile='avpf')
    if a.fec:
        rtpbin.set_property('fec-encoders', Gst.Structure.new_from_string(f'fec,0="{fec_description(a.fec)}";'))
    if a.rtx:
        def aux_sender(_bin, session):
            b = Gst.Bin.new(None)
            rtx = make('rtprtxsend', max_size_time=1000, max_size_packets=0,
                       payload_type_map=Gst.Structure.new_from_string(f'application/x-rtp-pt-map,{PT_H264}=(uint){PT_RTX}'))
            b.add(rtx)
            b.add_pad(Gst.GhostPad.new(f'sink_{session}', rtx.get_static_pad('sink')))
            b.add_pad(Gst.GhostPad.new(f'src_{session}', rtx.get_static_pad('src')))
            sent['rtxsend'] = rtx
            return b
        rtpbin.connect('request-aux-sender', aux_sender)
    rtp_sock, rtcp_sock = udp_socket(a.sender_port), udp_socket(a.sender_port + 1)
    rtp_sink = make('udpsink', socket=rtp_sock, host='127.0.0.1', port=a.link_port, sync=False)
    rtcp_sink = make('udpsink', socket=rtcp_sock, host='127.0.0.1', port=a.link_port + 1, sync=False)
    rtcp_src = make('udpsrc', socket=rtcp_sock, caps=Gst.Caps.from_string('application/x-rtcp'))
    for s in (rtp_sink, rtcp_sink):
        s.set_property('async', False)
    for e in (src, parse, pay, rtpbin, rtp_sink, rtcp_sink, rtcp_src):
        p.add(e)
    src.link(parse)
    parse.link(pay)
    pay.link_pads('src', rtpbin, 'send_rtp_sink_0')
    rtpbin.link_pads('send_rtcp_src_0', rtcp_sink, 'sink')
    rtcp_src.link_pads('src', rtpbin, 'recv_rtcp_sink_0')

    def media_probe(pad, info):
        t = now_ms()
        for buf in buffers(info):
            ok, m = buf.map(Gst.MapFlags.READ)
            if ok:
                d = m.data
                sent['packets'].append([(d[2] << 8) | d[3], int.from_bytes(d[4:8], 'big'), t, len(d)])
                buf.unmap(m)
        return Gst.PadProbeReturn.OK
    pay.get_static_pad('src').add_probe(PROBE, media_probe)
    for sink in (rtp_sink, rtcp_sink):
        sink.get_static_pad('sink').add_probe(PROBE, wire.probe)

    def pad_added(_bin, pad):
        name = pad.get_name()
        if name == 'send_rtp_src_0':
            pad.link(rtp_sink.get_static_pad('sink'))
        elif name.startswith('send_fec_src_0_'):
            k = int(name.rsplit('_', 1)[1])
            sock = udp_socket(a.sender_port + 2 + 2 * k)
            sink = make('udpsink', socket=sock, host='127.0.0.1', port=a.link_port + 2 + 2 * k, sync=False)
            sink.set_property('async', False)
            sink.get_static_pad('sink').add_probe(PROBE, wire.probe)
            p.add(sink)
            sink.sync_state_with_parent()
            if pad.link(sink.get_static_pad('sink')) != Gst.PadLinkReturn.OK:
                errors.append(f'sender: cannot link {name}')
    rtpbin.connect('pad-added', pad_added)
    # send_rtp_src_0 may already exist once the sink pad was requested.
    existing = rtpbin.get_static_pad('send_rtp_src_0')
    if existing is not None and not existing.is_linked():
        existing.link(rtp_sink.get_static_pad('sink'))
    return p, src


def build_receiver(a, emitted, recv, errors):
    p = Gst.Pipeline.new('receiver')
    rtpbin = make('rtpbin', rtp_profile='avpf', latency=a.latency_ms, do_retransmission=a.rtx)
    if a.fec:
        rtpbin.set_property('fec-decoders', Gst.Structure.new_from_string(
            f'fec,0="rtpst2022-1-fecdec\\ size-time\\={1_000_000_000}";'))
    caps = {
        PT_H264: 'application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96',
        PT_RTX: f'application/x-rtp,media=video,clock-rate=90000,encoding-name=RTX,payload={PT_RTX},apt={PT_H264}',
        PT_FEC: f'application/x-rtp,media=application,clock-rate=90000,encoding-name=ST_2022_1_FEC,payload={PT_FEC}',
    }
    rtpbin.connect('request-pt-map', lambda _b, _s, pt: Gst.Caps.from_string(caps[pt]) if pt in caps else None)
    if a.rtx:
        def aux_receiver(_bin, session):
            b = Gst.Bin.new(None)
            rtx = make('rtprtxreceive', payload_type_map=Gst.Structure.new_from_string(
                f'application/x-rtp-pt-map,{PT_H264}=(uint){PT_RTX}'))
            b.add(rtx)
            b.add_pad(Gst.GhostPad.new(f'sink_{session}', rtx.get_static_pad('sink')))
            b.add_pad(Gst.GhostPad.new(f'src_{session}', rtx.get_static_pad('src')))
            recv['rtxreceive'] = rtx
            return b
        rtpbin.connect('request-aux-receiver', aux_receiver)

    def new_jitterbuffer(_bin, jb, _session, _ssrc):
        recv.setdefault('jitterbuffers', []).append(jb)
        if a.rtx:
            # RTT 2x delay: NACK soon after a gap, retry once an answer is overdue, keep trying
            # until the buffer's deadline (shared reference: explicit timers cut residual 10x).
            rtt = max(4, 2 * a.delay_ms)
            jb.set_property('rtx-delay', 5)
            jb.set_property('rtx-retry-timeout', rtt + 5)
            jb.set_property('rtx-retry-period', max(20, a.latency_ms - rtt))
            jb.set_property('rtx-max-retries', -1)
    rtpbin.connect('new-jitterbuffer', new_jitterbuffer)

    socks = {off: udp_socket(a.receiver_port + off) for off in (0, 1, 2, 4)}
    rtp_src = make('udpsrc', socket=socks[0], caps=Gst.Caps.from_string(caps[PT_H264]))
    rtcp_src = make('udpsrc', socket=socks[1], caps=Gst.Caps.from_string('application/x-rtcp'))
    rtcp_sink = make('udpsink', socket=socks[1], host='127.0.0.1', port=a.link_return_port + 1, sync=False)
    rtcp_sink.set_property('async', False)
    for e in (rtpbin, rtp_src, rtcp_src, rtcp_sink):
        p.add(e)
    rtp_src.link_pads('src', rtpbin, 'recv_rtp_sink_0')
    rtcp_src.link_pads('src', rtpbin, 'recv_rtcp_sink_0')
    rtpbin.link_pads('send_rtcp_src_0', rtcp_sink, 'sink')
    if a.fec:
        for k, off in enumerate((2, 4)):
            src = make('udpsrc', socket=socks[off], caps=Gst.Caps.from_string(caps[PT_FEC]))
            p.add(src)
            src.link_pads('src', rtpbin, f'recv_fec_sink_0_{k}')
    session = rtpbin.emit('get-session', 0)
    if session is not None:
        # The RTCP budget is a share of the session bandwidth, which a receiver otherwise
        # estimates low: the NACKs then wait for a regular RTCP every ~50 ms. A high fixed
        # bandwidth and share let them go early (10 % loss, 8 s: residual 2.5e-2 -> 0.7-1e-2).
        session.set_property('bandwidth', 100e6)
        session.set_property('rtcp-fraction', 0.5)
        session.set_property('rtcp-rr-bandwidth', 100_000_000)
        session.set_property('rtcp-min-interval', 5 * Gst.MSECOND)
    else:
        errors.append('receiver: rtpbin has no session 0 to tune')

    def out_probe(pad, info):
        t = now_ms()
        for buf in buffers(info):
            ok, m = buf.map(Gst.MapFlags.READ)
            if ok:
                d = m.data
                if (d[1] & 0x7f) == PT_H264:
                    emitted.append([(d[2] << 8) | d[3], t])
                buf.unmap(m)
        return Gst.PadProbeReturn.OK

    def pad_added(_bin, pad):
        if pad.get_name().startswith('recv_rtp_src_0_'):
            sink = make('fakesink', sync=False)
            sink.set_property('async', False)
            p.add(sink)
            sink.sync_state_with_parent()
            pad.link(sink.get_static_pad('sink'))
            pad.add_probe(PROBE, out_probe)
    rtpbin.connect('pad-added', pad_added)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--h264', required=True)
    ap.add_argument('--fps', type=int, default=30)
    ap.add_argument('--seconds', type=float, required=True)
    ap.add_argument('--sender-port', type=int, required=True, help='base of the sender\'s sockets')
    ap.add_argument('--link-port', type=int, required=True, help='the link\'s box-side base port')
    ap.add_argument('--link-return-port', type=int, required=True, help='the link\'s receiver-side base port')
    ap.add_argument('--receiver-port', type=int, required=True)
    ap.add_argument('--latency-ms', type=int, default=200)
    ap.add_argument('--delay-ms', type=int, default=10, help='one-way link delay (sets the rtx timers)')
    ap.add_argument('--fec', default='none', help='COLUMNSxROWS[+rows] or none')
    ap.add_argument('--no-rtx', dest='rtx', action='store_false')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    if a.fec == 'none':
        a.fec = None
    else:
        spec, _, extra = a.fec.partition('+')
        cols, rows = (int(x) for x in spec.split('x'))
        a.fec = (cols, rows, extra == 'rows')
    Gst.init(None)
    aus = read_access_units(a.h264)
    if not aus or not aus[0][1]:
        sys.exit(f'{a.h264}: no access units starting with an IDR (encode with aud=true)')

    wire, errors = Wire(), []
    sent = {'packets': []}
    emitted, recv = [], {}
    receiver = build_receiver(a, emitted, recv, errors)
    sender, appsrc = build_sender(a, wire, sent, errors)
    loop = GLib.MainLoop()

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            errors.append(f'{msg.src.get_name()}: {err.message} ({dbg})')
            loop.quit()
    for pl in (receiver, sender):
        bus = pl.get_bus()
        bus.add_signal_watch()
        bus.connect('message', on_message)
    if receiver.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE or \
            sender.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        sys.exit('a pipeline would not start')

    keys = []

    def feed():
        total = int(round(a.seconds * a.fps))
        t0 = now_ms()
        for i in range(total):
            due = t0 + i * 1000.0 / a.fps
            wait = due - now_ms()
            if wait > 1:
                time.sleep(wait / 1000.0)
            au, key = aus[i % len(aus)]
            keys.append(key)
            buf = Gst.Buffer.new_wrapped(au)
            if appsrc.emit('push-buffer', buf) != Gst.FlowReturn.OK:
                errors.append(f'appsrc refused frame {i}')
                break
        time.sleep((a.latency_ms + 4 * a.delay_ms + 300) / 1000.0)
        GLib.idle_add(loop.quit)
    threading.Thread(target=feed, daemon=True).start()
    loop.run()

    def counter(obj, prop):
        return obj.get_property(prop) if obj is not None else None
    stats = {
        'rtx_packets': counter(sent.get('rtxsend'), 'num-rtx-packets'),
        'rtx_requests': counter(sent.get('rtxsend'), 'num-rtx-requests'),
        'rtx_received': counter(recv.get('rtxreceive'), 'num-rtx-packets'),
        'rtx_receive_requests': counter(recv.get('rtxreceive'), 'num-rtx-requests'),
    }
    jbs = recv.get('jitterbuffers', [])
    if jbs:
        s = jbs[0].get_property('stats')
        for f in ('num-pushed', 'num-lost', 'num-late', 'num-duplicates', 'rtx-count', 'rtx-success-count'):
            ok, v = s.get_uint64(f) if s.has_field(f) else (False, 0)
            stats[f.replace('-', '_')] = v if ok else None
    sender.set_state(Gst.State.NULL)
    receiver.set_state(Gst.State.NULL)
    with open(a.out, 'w') as f:
        json.dump({'sent': sent['packets'], 'keys': keys, 'emitted': emitted, 'wire_bytes': wire.bytes,
                   'wire_packets': wire.packets, 'stats': stats, 'errors': errors}, f)
    if errors:
        print('\n'.join(errors), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
