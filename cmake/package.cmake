# package.cmake - the Debian package (CPack DEB, `scripts/package.sh`): what `cmake --install`
# installs, under /usr, plus the unit in /lib/systemd/system and the conffile
# /etc/notarium/config.json; packaging/postinst creates the `notarium` user and
# /var/lib/notarium.  Run: cpack -G DEB --config BUILD/CPackConfig.cmake
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME notarium)
set(CPACK_PACKAGE_VENDOR "Notarium")
set(CPACK_PACKAGE_CONTACT "Notarium maintainers <notarium@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "RFC 3161 time-stamping authority with an append-only evidence ledger")
set(CPACK_PACKAGE_DESCRIPTION "Notarium issues RFC 3161 time-stamp tokens and evidence receipts,\
 keeps every one in an append-only Merkle ledger (LMDB) mirrored to git, and verifies\
 documents and receipts offline into certification reports.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr) # used as the prefix with CPACK_SET_DESTDIR
# Absolute destinations (/lib/systemd/system, /etc/notarium) go through DESTDIR.
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://notarium.invalid/")
# Library dependencies from the binaries (dpkg-shlibdeps); adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
