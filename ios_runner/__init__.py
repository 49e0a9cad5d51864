"""iPhones over usbmux: the runner app's job/result protocol, device tables and parsers.

``protocol`` (job and result JSON shared with the on-device app in ``app/``) and
``product_types`` (ProductType table, usbmux / ideviceinfo / app log parsers) import no device
library; the device driver that speaks usbmux through pymobiledevice3 lives beside them.
"""
