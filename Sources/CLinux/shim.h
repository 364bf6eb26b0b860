// Linux interfaces Glibc's Swift overlay does not export: epoll and eventfd, for the
// plain-HTTP client's event loop.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
