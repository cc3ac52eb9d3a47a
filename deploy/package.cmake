# The Debian package: cmake --build build --target package (cpack) writes
# build/vrouter_<version>_<arch>.deb. What it holds, and why, is in README.md
# ("Running it for real"); tests/e2e/test_package.sh checks it with lintian and installs
# it into a throwaway root. Included from the top CMakeLists.txt.
include(GNUInstallDirs)
set(VR_DEB ${CMAKE_SOURCE_DIR}/deploy/debian)
set(VR_DEB_DOC share/doc/vrouter)
set(VR_DEB_MAINTAINER "vrouter maintainers <vrouter@example.org>"
    CACHE STRING "Maintainer field of the Debian package")

install(TARGETS vrouterd RUNTIME DESTINATION sbin)
# Debian 12's systemd reads units from /lib/systemd/system (lintian wants them there).
install(FILES deploy/vrouterd.service DESTINATION /lib/systemd/system)
install(FILES deploy/default/vrouterd DESTINATION /etc/default)
install(FILES deploy/sysctl.d/60-vrouter.conf DESTINATION /etc/sysctl.d)
install(FILES deploy/rt_protos.d/vrouter.conf DESTINATION /etc/iproute2/rt_protos.d)
install(FILES ${VR_DEB}/sysusers.conf DESTINATION lib/sysusers.d RENAME vrouter.conf)
install(FILES ${VR_DEB}/copyright DESTINATION ${VR_DEB_DOC})

# Documentation, compressed as Debian wants it (gzip -9n: no name, no time stamp).
set(VERSION ${PROJECT_VERSION})
configure_file(${VR_DEB}/changelog ${CMAKE_BINARY_DIR}/deb/changelog @ONLY)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/deb/changelog.gz ${CMAKE_BINARY_DIR}/deb/README.md.gz
  COMMAND gzip -9nc ${CMAKE_BINARY_DIR}/deb/changelog > ${CMAKE_BINARY_DIR}/deb/changelog.gz
  COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/README.md > ${CMAKE_BINARY_DIR}/deb/README.md.gz
  DEPENDS ${CMAKE_BINARY_DIR}/deb/changelog ${CMAKE_SOURCE_DIR}/README.md
  VERBATIM)
add_custom_target(deb_docs ALL DEPENDS ${CMAKE_BINARY_DIR}/deb/changelog.gz
                                       ${CMAKE_BINARY_DIR}/deb/README.md.gz)
install(FILES ${CMAKE_BINARY_DIR}/deb/changelog.gz ${CMAKE_BINARY_DIR}/deb/README.md.gz
        DESTINATION ${VR_DEB_DOC})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vrouter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT ${VR_DEB_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "REST-managed virtual router (routes, subnets, security groups)")
# The extended description (cpack puts the summary above it and indents it).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "vrouterd keeps desired routes, subnets and security-group rules in SQLite and
enforces them in the kernel through netlink and nftables. It is driven through
a JSON API (curl, Terraform) and a small web UI, over HTTP or HTTPS.

Installing the package creates the system user vrouter and nothing else: it
starts no service and changes no networking.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd: the unit, and systemd-sysusers for the user (postinst). (deb-systemd-invoke, in the
# prerm, is in init-system-helpers, which is essential.)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "iproute2, nftables")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${VR_DEB}/conffiles ${VR_DEB}/postinst ${VR_DEB}/prerm
                                       ${VR_DEB}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
