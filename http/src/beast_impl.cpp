// Beast's separately compiled implementation, built once
// (BOOST_BEAST_SEPARATE_COMPILATION): no other file instantiates it. Asio's
// SSL part is compiled in net/tls.cpp.
#include <boost/beast/src.hpp>
