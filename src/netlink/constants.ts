// rtnetlink numbers from the kernel uapi (linux/netlink.h, rtnetlink.h,
// if_link.h, if_addr.h); netkit's from linux 6.7+ if_link.h.

export const NETLINK_ROUTE = 0;

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
// Flags of an NLMSG_ERROR answer.
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const IFF_UP = 0x1;
export const IFF_NOARP = 0x80;

export const IFINFOMSG_LEN = 16;
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_NET_NS_FD = 28;
export const IFLA_NUM_TX_QUEUES = 31;
export const IFLA_NUM_RX_QUEUES = 32;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_ALT_IFNAME = 53;
export const IFLA_PROP_LIST = 52;

export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

export const VETH_INFO_PEER = 1;

export const IFLA_NETKIT_PEER_INFO = 1;
export const IFLA_NETKIT_PRIMARY = 2;
export const IFLA_NETKIT_POLICY = 3;
export const IFLA_NETKIT_PEER_POLICY = 4;
export const IFLA_NETKIT_MODE = 5;
export const IFLA_NETKIT_SCRUB = 6;
export const IFLA_NETKIT_PEER_SCRUB = 7;
export const IFLA_NETKIT_HEADROOM = 8;
export const IFLA_NETKIT_TAILROOM = 9;
// Single-device mode (newer kernels; reported back when the kernel has it).
export const IFLA_NETKIT_PAIRING = 10;

export const NETKIT_L2 = 0;
export const NETKIT_L3 = 1;
export const NETKIT_NEXT = -1;
export const NETKIT_PASS = 0;
export const NETKIT_DROP = 2;
export const NETKIT_REDIRECT = 7;
export const NETKIT_SCRUB_NONE = 0;
export const NETKIT_SCRUB_DEFAULT = 1;

export const IFADDRMSG_LEN = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

export const RTMSG_LEN = 12;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
