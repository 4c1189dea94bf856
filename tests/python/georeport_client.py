#!/usr/bin/env python3
"""A standard GeoReport v2 client against Nazer's Open311 endpoint: the `georeport` package
from PyPI (https://pypi.org/project/georeport/) lists the services and reads a request back
without a key, in JSON and in XML.

georeport 0.3.1 has no call that posts a request, so the request is posted as such clients
post it (a form with `api_key`, through `requests`, which georeport itself uses).

Usage: georeport_client.py <base URL ending in /open311/v2> <api key with the open311 scope>
Prints one JSON line of what it saw; exits non-zero on the first thing that does not hold.
"""

import json
import sys

import requests
from georeport import GeoReport

SERVICE = "municipal.building"
PUBLIC_FIELDS = {
    "service_request_id",
    "status",
    "service_code",
    "service_name",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
}


def check(condition, what):
    if not condition:
        raise SystemExit(f"georeport: {what}")


def main():
    base, key = sys.argv[1], sys.argv[2]
    # No api_key given: georeport sends none on reads (the spec makes them keyless).
    as_json = GeoReport(base, jurisdiction="1888.gov.ir", output_format="json")
    as_xml = GeoReport(base, output_format="xml")

    services = as_json.get_service_list()
    check(any(s["service_code"] == SERVICE for s in services), f"{SERVICE} not among {services}")
    xml_services = as_xml.get_service_list()
    xml_services = xml_services if isinstance(xml_services, list) else [xml_services]
    check(any(s["service_code"] == SERVICE for s in xml_services), f"{SERVICE} not in the XML list")
    definition = as_json.get_service_definition(SERVICE)
    # A point places a report in its district; the province attribute is for where none does.
    province = [a for a in definition["attributes"] if a["code"] == "province"]
    check(province and not province[0]["required"], f"no optional province attribute: {definition}")

    form = {
        "api_key": key,
        "jurisdiction_id": "1888.gov.ir",
        "service_code": SERVICE,
        "lat": "35.6892",
        "long": "51.389",
        "description": "ساخت و ساز غیرمجاز در کوچه",
        "attribute[province]": "tehran",
    }
    posted = requests.post(f"{base}/requests.json", data=form, timeout=30)
    posted.raise_for_status()
    request_id = posted.json()[0]["service_request_id"]

    read = as_json.get_service_request(request_id)
    check(set(read) == PUBLIC_FIELDS, f"JSON read shows {sorted(read)}")
    check(read["service_request_id"] == request_id and read["status"] == "open", f"JSON read: {read}")
    check(read["service_code"] == SERVICE, f"JSON read: {read}")

    read_xml = as_xml.get_service_request(request_id)
    check(set(read_xml) == PUBLIC_FIELDS, f"XML read shows {sorted(read_xml)}")
    check(read_xml["service_request_id"] == request_id and read_xml["status"] == "open", f"XML read: {read_xml}")

    listed = as_json.get_service_requests(service_request_id=request_id)
    check([r["service_request_id"] for r in listed] == [request_id], f"JSON list: {listed}")
    listed_xml = as_xml.get_service_requests(service_code=SERVICE, status="open")
    listed_xml = listed_xml if isinstance(listed_xml, list) else [listed_xml]
    check([r["service_request_id"] for r in listed_xml] == [request_id], f"XML list: {listed_xml}")

    print(json.dumps({"services": len(services), "service_request_id": request_id, "fields": sorted(read)}))


if __name__ == "__main__":
    main()
