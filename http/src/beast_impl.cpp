// Beast's (and Asio SSL's) separately compiled implementation, built once
// (BOOST_BEAST_SEPARATE_COMPILATION): no other file instantiates it.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
