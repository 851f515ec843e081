# SIPp scenario pieces for the integration tests (sourced, not run): each function prints one XML fragment, so a
# test writes its scenario as the message flow it checks and the message texts live here once.
#
#   sipp_head NAME                 the XML prologue and <scenario>
#   sipp_tail [VARIABLES]          </scenario>, referencing the comma-separated variables a scenario assigns
#                                  only to check them (SIPp warns about unused ones otherwise)
#   sipp_sdp [DIRECTION [VERSION]] an audio offer/answer body (PCMU on SIPp's media address), with a=DIRECTION
#                                  ("-": none) and the o= session version VERSION (a new offer needs a new one)
#   sipp_respond STATUS [OPTIONS]  a response to the last request received:
#                                    -t TAG     add ;tag=TAG to To (a dialog-creating response)
#                                    -h HEADER  one more header line (repeatable)
#                                    -s DIR     an SDP body with a=DIR ("-" for none in the SDP)
#                                    -v N       its o= session version
#                                    -c         a Contact of ours (responses that create or refresh a dialog)
#                                    -r         retransmitted until answered (2xx to INVITE)
#   sipp_request METHOD CSEQ [OPTIONS]  a UAC request in the dialog SIPp started (INVITE with CSeq 1 starts it):
#                                    -h, -s, -v as above
#   sipp_expect_bye                <recv BYE> and its 200
# Variables SIPp fills in ([last_Via:], [branch], [len], ...) are SIPp's own: see its manual.

sipp_head() {
	printf '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="%s">\n' "$1"
}

sipp_tail() {
	[ -n "${1:-}" ] && printf '  <Reference variables="%s"/>\n' "$1"
	printf '</scenario>\n'
}

sipp_sdp() {
	printf 'v=0\no=sipp 53655765 %s IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\n' \
		"${2:-2353687637}"
	printf 't=0 0\nm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n'
	[ -n "${1:-}" ] && [ "$1" != - ] && printf 'a=%s\n' "$1"
	return 0
}

# The reason phrases the tests use.
sipp_reason() {
	case $1 in
	180) echo Ringing ;; 183) echo Session Progress ;; 200) echo OK ;; 422) echo Session Interval Too Small ;;
	403) echo Forbidden ;; 488) echo Not Acceptable Here ;; 491) echo Request Pending ;; 503) echo Service Unavailable ;;
	*) echo Response ;;
	esac
}

# Shared by sipp_respond and sipp_request: the headers (-h), the body (-s) and the end of the message.
_sipp_finish() { # HEADERS SDP_GIVEN SDP_DIR SDP_VERSION
	[ -n "$1" ] && printf '%s' "$1"
	if [ "$2" = 1 ]; then
		printf 'Content-Type: application/sdp\nContent-Length: [len]\n\n'
		sipp_sdp "$3" "$4"
	else
		printf 'Content-Length: 0\n\n'
	fi
	printf ']]></send>\n'
}

sipp_respond() {
	status=$1 tag= hdrs= sdp=0 dir= ver= contact=0 retrans=
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		-t) tag=";tag=$2"; shift ;;
		-h) hdrs="$hdrs$2
"; shift ;;
		-s) sdp=1 dir=$2; shift ;;
		-v) ver=$2; shift ;;
		-c) contact=1 ;;
		-r) retrans=' retrans="500"' ;;
		esac
		shift
	done
	printf '  <send%s><![CDATA[\nSIP/2.0 %s %s\n[last_Via:]\n[last_From:]\n[last_To:]%s\n[last_Call-ID:]\n[last_CSeq:]\n' \
		"$retrans" "$status" "$(sipp_reason "$status")" "$tag"
	[ $contact = 1 ] && printf 'Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n'
	_sipp_finish "$hdrs" $sdp "$dir" "$ver"
}

sipp_request() {
	method=$1 cseq=$2 hdrs= sdp=0 dir= ver=
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		-h) hdrs="$hdrs$2
"; shift ;;
		-s) sdp=1 dir=$2; shift ;;
		-v) ver=$2; shift ;;
		esac
		shift
	done
	# the dialog's To tag once the peer gave one; ACK and a 2xx's retransmissions are not retransmitted by us
	to_tag='[peer_tag_param]'
	[ "$method" = INVITE ] && [ "$cseq" = 1 ] && to_tag=
	retrans=' retrans="500"'
	[ "$method" = ACK ] && retrans=
	printf '  <send%s><![CDATA[\n%s sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n' "$retrans" "$method"
	printf 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n'
	printf 'From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n'
	printf 'To: <sip:[service]@[remote_ip]:[remote_port]>%s\nCall-ID: [call_id]\nCSeq: %s %s\n' "$to_tag" "$cseq" \
		"$method"
	[ "$method" = INVITE ] && printf 'Contact: <sip:sipp@[local_ip]:[local_port]>\n'
	printf 'Max-Forwards: 70\n'
	_sipp_finish "$hdrs" $sdp "$dir" "$ver"
}

sipp_expect_bye() {
	printf '  <recv request="BYE"%s/>\n' "${1:+ timeout=\"$1\"}"
	sipp_respond 200
}
